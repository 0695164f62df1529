import { Logger } from '@nestjs/common';
import type { DomainError } from '@encedeus/contracts';
import type { CommandHandler, EventStore } from '@encedeus/messaging';
import type { AgentClient } from '@encedeus/fleet';
import { serverDecider } from '../domain/server.decider';
import { nodeDecider } from '../domain/node.decider';
import { agentActor, agentServerSpec, SERVICE_ACTOR } from '../domain/agent-server-spec';
import type { AgentCredentials } from '../agents/agent-credentials';
import type { Liveness } from '../liveness/liveness';
import { serverWork } from '../common/read-your-writes';

/** How long an install waits for an offline node, from the server's creation (NODES_INSTALL_DEADLINE_S). */
export const DEFAULT_INSTALL_DEADLINE_S = 600;

/** Delays before retrying an install the agent could not be reached for (after the 1st, 2nd, 3rd failure). */
export const INSTALL_RETRIES_MS = [1000, 3000, 10_000];

/** When to try again after the `attempt`-th failure (1-based); null: no more tries, the install fails (server.installed {success: false, error}). */
export function installRetryAt(attempt: number, unreachable: boolean, now: Date): string | null {
  if (!unreachable || attempt > INSTALL_RETRIES_MS.length) return null;
  return new Date(now.getTime() + INSTALL_RETRIES_MS[attempt - 1]).toISOString();
}

/**
 * Installs a server after `server.install_started`: new credentials for the agent (so it may use the
 * new server's console subjects), then `create_server` on the agent, then `server.installed`. An
 * agent that cannot be reached (it may be between two connections) is tried again later:
 * `server.install_attempt_failed {attempt, retry_at}` records when, so the retry survives a restart of
 * the nodes service. An agent that answers with an error, or does not answer the last try although its
 * node is online, ends the install: `server.installed {success: false, error}` (state install_failed,
 * within about 15 s plus the agent's own time). An offline node's install waits for it (not tried), until
 * the install deadline (`installDeadlineS` after server.created): then it ends install_failed too.
 * Run by FleetTimers, on one replica (the `fleet-timers` lease holder).
 */
export class InstallServerProcessManager {
  private readonly logger = new Logger('InstallServer');
  /** Servers whose install waits for their node to be online here, said once each in the log. */
  private readonly waitingSaid = new Set<string>();

  constructor(
    private readonly kernel: CommandHandler,
    private readonly store: EventStore,
    private readonly agents: AgentClient,
    private readonly creds: AgentCredentials,
    private readonly liveness: Pick<Liveness, 'isOnline'>,
    /** How long an install waits for an offline node, from the server's creation. @default 600 */
    readonly deadlineS = DEFAULT_INSTALL_DEADLINE_S,
  ) {}

  /**
   * Ends an install whose node the read model believes offline once its deadline passed. No lock:
   * an attempt started before the node went away may hold the server's lock for minutes (a frozen
   * agent answers nothing until the request times out); the kernel's revision check and the decider
   * (only while installing) keep a late answer of that attempt from changing anything.
   */
  async endOverdue(id: string, now: Date): Promise<void> {
    const { state } = await this.store.load('server', id, serverDecider);
    if (!state.exists || state.deleted || state.state !== 'installing') return;
    const { state: node } = await this.store.load('node', state.node_id, nodeDecider);
    await this.kernel.handle(
      'server',
      id,
      serverDecider,
      { type: 'end_overdue_install', nodeName: node.name || state.node_id, nodeOnline: this.liveness.isOnline(state.node_id), deadlineS: this.deadlineS, now: now.toISOString() },
      { actor: SERVICE_ACTOR },
    );
  }

  /** One install attempt, if one is due; an offline node is left to its next sync. */
  async install(id: string, now: Date): Promise<void> {
    const { state } = await this.store.load('server', id, serverDecider);
    if (!state.exists || state.deleted || state.state !== 'installing' || state.installDueAt === null) return;
    if (Date.parse(state.installDueAt) > now.getTime()) return;
    const nodeId = state.node_id;
    if (!this.liveness.isOnline(nodeId)) {
      // The read model said online (installsDue), this replica's liveness does not: wait for a heartbeat.
      if (!this.waitingSaid.has(id)) this.logger.warn(`install of server ${id} waits: node ${nodeId} is not online for this replica's liveness yet`);
      this.waitingSaid.add(id);
      return;
    }
    this.waitingSaid.delete(id);
    if (state.installAttempts === 0) await this.creds.refresh(nodeId, [id]);
    await this.kernel.lock(serverWork(id), async () => {
      const { state: current } = await this.store.load('server', id, serverDecider);
      if (!current.exists || current.deleted || current.state !== 'installing') return;
      try {
        const reply = await this.agents.request<{ installed: boolean; error?: string }>(nodeId, 'create_server', { server: agentServerSpec(id, current) }, 120_000);
        await this.kernel.handle('server', id, serverDecider, { type: 'report_installed', nodeId, success: reply.installed, ...(reply.error ? { error: reply.error } : {}) }, { actor: agentActor(nodeId) });
      } catch (error) {
        const attempt = current.installAttempts + 1;
        const unreachable = (error as DomainError).code === 'SERVICE_UNAVAILABLE';
        const reason = String((error as Error).message).slice(0, 500);
        this.logger.warn(`install of server ${id} on node ${nodeId} (attempt ${attempt}): ${reason}`);
        const retryAt = installRetryAt(attempt, unreachable, new Date());
        if (retryAt !== null) {
          await this.kernel.handle('server', id, serverDecider, { type: 'install_attempt_failed', error: reason, retryAt }, { actor: SERVICE_ACTOR });
          return;
        }
        // The agent answered with an error (no Docker on the node, an image that cannot be pulled…), or
        // an online node's agent did not answer the last try: the install ends here, with the reason,
        // rather than staying "installing" until someone looks.
        const failure = unreachable ? `The agent of node ${nodeId} did not answer after ${attempt} attempts: ${reason}` : reason;
        await this.kernel.handle('server', id, serverDecider, { type: 'report_installed', nodeId, success: false, error: failure }, { actor: SERVICE_ACTOR });
      }
    });
  }
}
