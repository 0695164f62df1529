import { Logger } from '@nestjs/common';
import { AckPolicy, DeliverPolicy, JSONCodec, type JsMsg } from 'nats';
import type { NatsConnection } from 'nats';
import {
  AGENT_REPORTS,
  bootReportSchema,
  STREAMS,
  Subjects,
  serverExitedReportSchema,
  serverInstalledReportSchema,
  serverReadyReportSchema,
  serverStartedReportSchema,
  sftpChangeReportSchema,
  type BootReport,
  type ExitFacts,
  type ObservedServer,
  type SyncReply,
} from '@encedeus/contracts';
import { ZodError } from 'zod';
import { ConsumeLoop, ensureStreams, KeyedMutex, type CommandHandler, type EventStore } from '@encedeus/messaging';
import type { AgentClient } from '@encedeus/fleet';
import { nodeDecider } from '../domain/node.decider';
import { serverDecider } from '../domain/server.decider';
import { agentActor, agentServerSpec } from '../domain/agent-server-spec';
import { rowToServerState } from '../projections/fleet.projection';
import type { ServerReports } from '../commands/server-reports.handler';
import type { FleetReadModel } from '../queries/fleet.read-model';
import type { AgentCredentials } from './agent-credentials';
import type { Liveness } from '../liveness/liveness';

const codec = JSONCodec<any>();
const CONSUMER = 'nodes_agent_reports';

/**
 * Turns the facts agents report on `agent.<id>.report.<kind>` (stream AGENT_REPORTS) into events.
 * Reports of one node are handled in stream order; different nodes in parallel.
 */
/** Grace after `node.came_online` before syncing, so an agent's own boot sync goes first. */
const SYNC_AFTER_ONLINE_MS = 1500;

export class AgentReports {
  private readonly logger = new Logger('AgentReports');
  private readonly perNode = new KeyedMutex();
  private loop?: ConsumeLoop;

  constructor(
    private readonly nc: NatsConnection,
    private readonly store: EventStore,
    private readonly kernel: CommandHandler,
    private readonly servers: ServerReports,
    private readonly readModel: FleetReadModel,
    private readonly agents: AgentClient,
    private readonly creds: AgentCredentials,
    private readonly liveness: Liveness,
  ) {}

  async start(): Promise<void> {
    const jsm = await this.nc.jetstreamManager();
    await ensureStreams(jsm, [STREAMS.agentReports, STREAMS.telemetry, STREAMS.console]);
    const info = await jsm.consumers.info(STREAMS.agentReports, CONSUMER).catch(() => undefined);
    if (!info) {
      await jsm.consumers.add(STREAMS.agentReports, {
        durable_name: CONSUMER,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        filter_subject: Subjects.agentReports,
        ack_wait: 120_000_000_000,
        max_ack_pending: 20_000,
      });
    }
    // Reports of different nodes are handled side by side, each node's in order (handle acks).
    this.loop = new ConsumeLoop({
      name: 'AgentReports',
      open: () => this.nc.jetstream().consumers.get(STREAMS.agentReports, CONSUMER),
      handle: (m) => {
        const [, nodeId, , kind] = m.subject.split('.');
        void this.perNode.run(nodeId, () => this.handle(nodeId, kind, m));
      },
      consume: { max_messages: 1000, expires: 5000 },
      closed: () => this.nc.isClosed(),
    });
    await this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
  }

  private async handle(nodeId: string, kind: string, m: JsMsg): Promise<void> {
    try {
      const data = codec.decode(m.data);
      switch (kind) {
        case AGENT_REPORTS.boot:
          await this.boot(nodeId, bootReportSchema.parse(data));
          break;
        case AGENT_REPORTS.serverInstalled: {
          const r = serverInstalledReportSchema.parse(data);
          await this.servers.installed(nodeId, r.server_id, r.success, r.error);
          break;
        }
        case AGENT_REPORTS.sftpChange: {
          const r = sftpChangeReportSchema.parse(data);
          await this.servers.sftpChanged(nodeId, r);
          break;
        }
        case AGENT_REPORTS.serverStarted: {
          const r = serverStartedReportSchema.parse(data);
          await this.servers.started(nodeId, r.server_id, r.run_id);
          break;
        }
        case AGENT_REPORTS.serverReady: {
          const r = serverReadyReportSchema.parse(data);
          await this.servers.ready(nodeId, r.server_id, r.run_id);
          break;
        }
        case AGENT_REPORTS.serverExited: {
          const r = serverExitedReportSchema.parse(data);
          await this.servers.exited(nodeId, r.server_id, r);
          break;
        }
        default:
          break;
      }
    } catch (error) {
      // An invalid report is dropped (and acked below), never appended: a poison event would park the projection.
      if (error instanceof ZodError) this.logger.warn(`dropped report ${m.subject}: ${error.issues.map((i) => `${i.path.join('.') || '(report)'}: ${i.message}`).join('; ')}`);
      else this.logger.warn(`report ${m.subject} failed: ${(error as Error).message}`);
    } finally {
      m.ack();
    }
  }

  /** Boot: record the spec, then push the node's desired state and fresh credentials, and reconcile. */
  private async boot(nodeId: string, report: BootReport): Promise<void> {
    const node = await this.store.load('node', nodeId, nodeDecider);
    if (!node.state.exists || node.state.deleted) return;
    this.liveness.beat(nodeId);
    await this.kernel.handle('node', nodeId, nodeDecider, { type: 'report_spec', spec: report.spec }, { actor: agentActor(nodeId) }, { conflictRetries: 4 });
    await this.sync(nodeId);
  }

  /** When each node was last synced (boot or came back online). */
  private readonly syncedAt = new Map<string, number>();

  /**
   * A node that came back online may have missed commands while it was away (an install skipped
   * because it looked offline, a power action refused): sync it, unless a sync ran since (the boot
   * report of an agent that restarted syncs on its own).
   */
  syncAfterComingOnline(nodeId: string, at: number): void {
    setTimeout(() => {
      if ((this.syncedAt.get(nodeId) ?? 0) >= at || !this.liveness.isOnline(nodeId)) return;
      void this.sync(nodeId).catch((error) => this.logger.warn(`sync of node ${nodeId} after it came back online failed: ${(error as Error).message}`));
    }, SYNC_AFTER_ONLINE_MS).unref();
  }

  /** Sends the node its servers and credentials; reconciles what it observed. */
  async sync(nodeId: string): Promise<void> {
    this.syncedAt.set(nodeId, Date.now());
    const rows = await this.readModel.serversOnNode(nodeId);
    const servers = rows.map((r) => agentServerSpec(r.id, rowToServerState(r)));
    const versions = new Map<string, number>(rows.map((r) => [r.id, r.version]));
    // Servers an install just placed here that the read model has not applied yet, from their own
    // events: a sync without them would have the agent remove them mid-install (AgentCredentials.recentServers).
    for (const id of this.creds.recentServers(nodeId, rows.map((r) => r.id))) {
      const { state, revision } = await this.store.load('server', id, serverDecider);
      if (!state.exists || state.deleted || state.node_id !== nodeId) {
        this.creds.forgetRecent(nodeId, id); // gone or elsewhere already: no consoles for it in the creds below either
        continue;
      }
      servers.push(agentServerSpec(id, state));
      versions.set(id, revision.version);
    }
    const creds = await this.creds.mint(nodeId);
    const reply = await this.agents.request<SyncReply>(nodeId, 'sync', { creds, servers }, 120_000);
    await Promise.all(reply.servers.map((o) => this.servers.observed(nodeId, o as ObservedServer & { exit?: ExitFacts }, versions.get(o.id) ?? 0)));
  }
}
