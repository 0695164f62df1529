import { Logger } from '@nestjs/common';
import { agentPermissions, mintUserCreds } from '@encedeus/messaging';
import type { AgentClient } from '@encedeus/fleet';
import type { Liveness } from '../liveness/liveness';
import type { FleetReadModel } from '../queries/fleet.read-model';
import type { NodesOptions } from '../nodes.options';

/** How long a just-placed server counts as the node's while the read model has not listed it. */
const RECENT_SERVER_MS = 120_000;

/** Mints each agent's NATS user and pushes fresh credentials to online agents. */
export class AgentCredentials {
  private readonly logger = new Logger('AgentCredentials');
  private readonly renewals = new Map<string, number>();
  /** Per node, servers just placed on it (see recentServers) and until when they count. */
  private readonly recent = new Map<string, Map<string, number>>();

  constructor(
    private readonly agents: AgentClient,
    private readonly readModel: FleetReadModel,
    private readonly liveness: Pick<Liveness, 'isOnline'>,
    private readonly options: NodesOptions,
  ) {}

  get ttlS(): number {
    return this.options.agentCredsTtlS ?? 7 * 24 * 3600;
  }

  /** An agent's NATS user: its own subjects plus the consoles of the servers it runs. */
  async mint(nodeId: string, include: string[] = []): Promise<string> {
    const rows = await this.readModel.serversOnNode(nodeId);
    const listed = rows.map((r) => r.id);
    // `include` and the node's recent servers: just created, maybe not applied by the read model yet.
    const ids = [...new Set([...listed, ...include, ...this.recentServers(nodeId, listed)])].sort();
    return mintUserCreds(this.options.signer, `agent-${nodeId}`, agentPermissions(nodeId, ids), { expiresInSeconds: this.ttlS });
  }

  /**
   * Servers placed on `nodeId` by an install (refresh's `include`) that the read model did not list
   * in `listed` yet, for at most RECENT_SERVER_MS. A sync built from the read model alone, between
   * the install's refresh and the projection, minted credentials without the new server's consoles
   * and told the agent to remove the server it was installing: the agent reconnected under the
   * narrower credentials, the install's reply was refused (PERMISSIONS_VIOLATION) and the server
   * stayed installing (seen in the fresh-clone CI of 2026-12-02).
   */
  recentServers(nodeId: string, listed: readonly string[]): string[] {
    const recent = this.recent.get(nodeId);
    if (!recent) return [];
    const now = Date.now();
    for (const [id, until] of recent) if (until < now || listed.includes(id)) recent.delete(id);
    if (recent.size === 0) this.recent.delete(nodeId);
    return [...recent.keys()];
  }

  /** Stops counting `serverId` as `nodeId`'s (its events say it was deleted or placed elsewhere). */
  forgetRecent(nodeId: string, serverId: string): void {
    this.recent.get(nodeId)?.delete(serverId);
  }

  /** From a heartbeat: re-mints the agent's credentials once less than half of their lifetime is left. */
  renewIfDue(nodeId: string, credsExpiresAt: number | undefined): void {
    const now = Date.now();
    if (!credsExpiresAt || credsExpiresAt - now > (this.ttlS * 1000) / 2) return;
    // At most one attempt per node per tenth of the lifetime (10 min at most): heartbeats keep asking until it took.
    const last = this.renewals.get(nodeId);
    if (last !== undefined && now - last < Math.min(600_000, (this.ttlS * 1000) / 10)) return;
    this.renewals.set(nodeId, now);
    void this.refresh(nodeId).then((ok) => ok && this.logger.log(`renewed the credentials of node ${nodeId}`));
  }

  /**
   * Sends fresh credentials to an online agent after its server set changed (best effort). Other
   * requests to the node wait until the agent confirmed its reconnect (AgentClient.exclusive).
   */
  async refresh(nodeId: string, include: string[] = []): Promise<boolean> {
    if (include.length > 0) {
      const recent = this.recent.get(nodeId) ?? new Map<string, number>();
      for (const id of include) recent.set(id, Date.now() + RECENT_SERVER_MS);
      this.recent.set(nodeId, recent);
    }
    if (!this.liveness.isOnline(nodeId)) return false;
    return this.agents.exclusive(nodeId, async () => {
      try {
        const creds = await this.mint(nodeId, include);
        const reply = await this.agents.request<{ reconnecting?: boolean; generation?: number }>(nodeId, 'credentials', { creds }, 10_000, { ungated: true });
        if (reply.reconnecting) await this.waitReconnected(nodeId, reply.generation ?? 0);
        return true;
      } catch (error) {
        this.logger.warn(`could not refresh credentials of node ${nodeId}: ${(error as Error).message}`);
        return false;
      }
    });
  }

  /**
   * After new permissions the agent reconnects; a command sent meanwhile could be answered on the
   * new connection, which NATS refuses (replies must leave on the connection the request came in).
   * So wait until a ping answers from the new connection (its generation moved on).
   */
  private async waitReconnected(nodeId: string, generation: number): Promise<void> {
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      const pong = await this.agents.request<{ generation?: number }>(nodeId, 'ping', {}, 500, { ungated: true }).catch(() => undefined);
      if (pong && (pong.generation ?? 0) > generation) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    this.logger.warn(`agent of node ${nodeId} did not confirm its reconnect with new credentials`);
  }
}
