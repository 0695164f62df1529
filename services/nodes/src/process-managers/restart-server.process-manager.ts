import { Logger } from '@nestjs/common';
import type { PowerReply } from '@encedeus/contracts';
import type { CommandHandler } from '@encedeus/messaging';
import type { AgentClient } from '@encedeus/fleet';
import { serverDecider } from '../domain/server.decider';
import { agentServerSpec, SERVICE_ACTOR } from '../domain/agent-server-spec';
import { serverWork } from '../common/read-your-writes';

/**
 * The restart policy after a crash. `server.crashed {will_restart, due_at}` is the schedule; at
 * due_at this records `server.restarted {by: policy}` and asks the agent to start the server, then
 * records what it did. Anything that happens to the server before (a power action, a delete) ends
 * the schedule, so the decider then decides nothing. Restart-safe: the schedule is in the events,
 * and FleetTimers (one replica, under a lease) finds due restarts in the read model.
 */
export class RestartServerProcessManager {
  private readonly logger = new Logger('RestartServer');

  constructor(
    private readonly kernel: CommandHandler,
    private readonly agents: AgentClient,
  ) {}

  /** Restarts a crashed server whose restart is due; a restart no longer due (or not yet) does nothing. */
  restart(id: string, now: Date): Promise<void> {
    return this.kernel.lock(serverWork(id), async () => {
      const meta = { actor: SERVICE_ACTOR };
      const restarted = await this.kernel.handle('server', id, serverDecider, { type: 'restart_by_policy', now: now.toISOString() }, meta);
      if (restarted.events.length === 0) return;
      const { state } = restarted;
      this.logger.log(`restarting crashed server ${id} (attempt ${state.crashes})`);
      let reply: PowerReply;
      try {
        reply = await this.agents.request<PowerReply>(state.node_id, 'power', { server_id: id, action: 'start', spec: agentServerSpec(id, state) }, 30_000);
      } catch (error) {
        // The start did not happen (agent gone, timeout): recorded as another crash, whose schedule
        // (or the end of the policy) the decider works out, so the restart is retried, not lost.
        this.logger.warn(`restart of server ${id} failed: ${(error as Error).message}`);
        const exit = { code: null, signal: null, expected: false, reason: 'restart_failed', run_id: null };
        await this.kernel.handle('server', id, serverDecider, { type: 'report_exited', nodeId: state.node_id, exit, now: new Date().toISOString() }, meta);
        return;
      }
      await this.kernel.handle('server', id, serverDecider, { type: 'record_power', action: 'start', reply }, meta);
    });
  }
}
