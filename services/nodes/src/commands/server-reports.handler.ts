import type { EventData, ExitFacts, ObservedServer, ServerFilesChanged, SftpChangeReport } from '@encedeus/contracts';
import type { CommandHandler, CommandMeta, Handled } from '@encedeus/messaging';
import { serverDecider, type FileChange, type ServerCommand, type ServerState } from '../domain/server.decider';
import { agentActor } from '../domain/agent-server-spec';
import { serverWork } from '../common/read-your-writes';

/**
 * Facts agents report about servers (stream AGENT_REPORTS, and sync observations), each one command
 * of the server decider, recorded with the agent as actor. They queue behind a power action on the
 * same server in this process; a crash they record carries its restart schedule, which the restart
 * process manager picks up.
 */
export class ServerReports {
  constructor(private readonly kernel: CommandHandler) {}

  private record(id: string, nodeId: string, command: ServerCommand, meta: CommandMeta = { actor: agentActor(nodeId) }): Promise<Handled<ServerState>> {
    // A fact does not depend on who else wrote meanwhile: retry a lost race a few times before giving up.
    return this.kernel.lock(serverWork(id), () => this.kernel.handle('server', id, serverDecider, command, meta, { conflictRetries: 4 }));
  }

  /** A change made over SFTP, as the agent reported it. */
  sftpChanged(nodeId: string, report: SftpChangeReport): Promise<unknown> {
    const { server_id: id, user_id: userId, op, path, to } = report;
    return this.filesChanged(id, nodeId, 'sftp', [{ op, path, ...(to !== undefined ? { to } : {}) }], { actor: `user:${userId}` });
  }

  /**
   * Changes a user made to a server's files on `nodeId` (SFTP or the REST file manager): recorded with
   * the user as actor, the audit log shows who. No changes records nothing.
   */
  filesChanged(id: string, nodeId: string, via: EventData<typeof ServerFilesChanged>['via'], changes: readonly FileChange[], meta: CommandMeta): Promise<unknown> {
    if (changes.length === 0) return Promise.resolve();
    return this.record(id, nodeId, { type: 'report_files_changed', nodeId, via, changes }, meta);
  }

  ready(nodeId: string, id: string, runId: string): Promise<unknown> {
    return this.record(id, nodeId, { type: 'report_ready', nodeId, runId });
  }

  started(nodeId: string, id: string, runId: string): Promise<unknown> {
    return this.record(id, nodeId, { type: 'report_started', nodeId, runId });
  }

  installed(nodeId: string, id: string, success: boolean, error?: string): Promise<unknown> {
    return this.record(id, nodeId, { type: 'report_installed', nodeId, success, ...(error ? { error } : {}) });
  }

  exited(nodeId: string, id: string, exit: ExitFacts & { run_id: string | null }): Promise<unknown> {
    return this.record(id, nodeId, { type: 'report_exited', nodeId, exit, now: new Date().toISOString() });
  }

  /**
   * Reconciles one server after an agent sync. `seenAtVersion` is the aggregate version when the sync
   * was sent: if anything happened since (a power action raced the sync), the observation is stale
   * and the agent's own reports tell the rest.
   */
  observed(nodeId: string, observed: ObservedServer & { exit?: ExitFacts }, seenAtVersion: number): Promise<unknown> {
    return this.record(observed.id, nodeId, { type: 'report_observed', nodeId, observed, seenAtVersion, now: new Date().toISOString() });
  }
}
