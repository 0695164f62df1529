import { Logger } from '@nestjs/common';
import { JSONCodec, type NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { AGENT_VERBS, sftpRecheckAfter, Subjects, type RecordedEvent, type SftpRecheckCommand } from '@encedeus/contracts';
import type { EventStore } from '@encedeus/messaging';
import { serverDecider } from '../domain/server.decider';
import { SCHEMA } from '../projections/fleet.projection';

const codec = JSONCodec<SftpRecheckCommand>();

/**
 * Ends open SFTP sessions as soon as the access behind them goes (docs/subusers.md, "When a removal
 * takes effect"). The agents only re-check each session every AGENT_SFTP_RECHECK_MS (10 s), so a
 * sub-user removed from a server could keep its session that long. The fleet projector's leader
 * hands this class every event it has just committed. For each event that may end sessions
 * (contracts' sftpRecheckAfter), it publishes `agent.<nodeId>.cmd.sftp_recheck`. The agent then
 * re-checks the matching sessions with the auth service, or ends them when the event alone says
 * the access is gone. The read model already holds the event, so the auth service's
 * `cmd.nodes.get_server` sees the change.
 *
 * A server's change goes only to the agent of that server's node, so no agent learns of another
 * node's servers. A user's or a role's change may concern a session on any node, so it goes to
 * every enrolled node. It names only the user id, or nothing for a role.
 *
 * This is a fire-and-forget publish with no answer and no retry: an agent that misses it (it is
 * offline, or the leader died between its commit and the publish) still has its periodic re-check.
 */
export class RevokeSftpSessionsProcessManager {
  private readonly logger = new Logger('RevokeSftpSessions');

  constructor(
    private readonly nc: NatsConnection,
    private readonly store: EventStore,
    private readonly db: DataSource,
  ) {}

  /** The fleet projector's `committed` hook: returns at once; the publishes follow. */
  committed(events: RecordedEvent[]): void {
    for (const { event } of events) {
      const recheck = sftpRecheckAfter(event);
      if (!recheck) continue;
      void this.push(recheck).catch((error: Error) => this.logger.warn(`sftp_recheck after ${event.type} of ${event.subject} not sent: ${error.message}`));
    }
  }

  private async push(recheck: SftpRecheckCommand): Promise<void> {
    const nodes = recheck.server_id ? [await this.nodeOf(recheck.server_id)] : await this.enrolledNodes();
    for (const nodeId of nodes) if (nodeId) this.nc.publish(Subjects.agentCommand(nodeId, AGENT_VERBS.sftpRecheck), codec.encode(recheck));
  }

  /** The server's node from its aggregate: a deleted server is gone from the read model, but its events keep the node. */
  private async nodeOf(serverId: string): Promise<string | undefined> {
    const { state } = await this.store.load('server', serverId, serverDecider);
    return state.exists ? state.node_id : undefined;
  }

  private async enrolledNodes(): Promise<string[]> {
    const rows: { id: string }[] = await this.db.query(`select id from ${SCHEMA}.nodes where enrolled`);
    return rows.map((r) => r.id);
  }
}
