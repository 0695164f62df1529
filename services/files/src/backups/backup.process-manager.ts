import { Logger } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import type { AgentClient } from '@encedeus/fleet';
import { Lease, type CommandHandler, type EventStore } from '@encedeus/messaging';
import { backupDecider } from './backup.decider';
import type { BackupSessions } from './backup-sessions';

const SCHEMA = 'files';
/** Who the process manager's events name as actor. */
export const BACKUP_ACTOR = 'service:files';

export interface BackupProcessOptions {
  /** A backup or restore with no progress for this long ends failed. @default 2 min */
  stallMs: number;
  /** Pause between two sweeps of the lease holder. @default 5 s */
  sweepMs: number;
  /** The `files.backups` lease. @default { ttlMs: 5000 } */
  lease?: { ttlMs?: number; renewMs?: number };
}

/**
 * Drives backups and restores (DESIGN.md §4a process manager): backup.requested → hand it to the
 * server's agent (`agent.<nodeId>.cmd.backup.create`, answered at once; backup.started is recorded
 * first, so two replicas never both hand it out) → the agent reports through the files service's
 * backup verbs → backup.completed or backup.failed. Restores likewise. Restart-safe: all progress
 * is in events and their read model (`files.backups`), and one replica (the holder of the
 * `files.backups` lease) sweeps every `sweepMs`: it hands out pending work (a request whose hand-off
 * was lost to a crash) and fails running work with no progress for `stallMs` (agent gone, agent
 * restarted, files service restarted mid-backup). Nothing is ever left "running".
 */
export class BackupProcessManager {
  private readonly logger = new Logger('files/backups');
  private lease?: Lease;
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly db: DataSource,
    private readonly kernel: CommandHandler,
    private readonly store: EventStore,
    private readonly agents: AgentClient,
    private readonly sessions: BackupSessions,
    private readonly options: BackupProcessOptions,
  ) {}

  async start(): Promise<void> {
    this.lease = new Lease(this.nc, {
      service: 'files',
      name: 'backups',
      ...this.options.lease,
      onAcquired: () => this.schedule(),
      onLost: () => this.unschedule(),
      onError: (error) => this.logger.warn(`backups lease: ${error.message}`),
    });
    await this.lease.start();
  }

  async stop(): Promise<void> {
    this.unschedule();
    await this.lease?.stop();
    await this.sweeping?.catch(() => undefined);
  }

  private schedule(): void {
    this.unschedule();
    this.timer = setInterval(() => {
      if (!this.sweeping && this.lease?.isHeld()) {
        this.sweeping = this.sweep()
          .catch((error) => this.logger.warn(`sweep failed: ${(error as Error).message}`))
          .finally(() => (this.sweeping = undefined));
      }
    }, this.options.sweepMs);
    this.timer.unref();
  }

  private unschedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sweep now: hands out pending backups and restores, fails stalled ones. */
  async sweep(now = new Date()): Promise<void> {
    const stalledBefore = new Date(now.getTime() - this.options.stallMs);
    const pending = (await this.db.query(`select id from ${SCHEMA}.backups where status = 'pending'`)) as { id: string }[];
    for (const { id } of pending) await this.dispatch(id);
    const restores = (await this.db.query(`select id from ${SCHEMA}.backups where restore_status = 'pending'`)) as { id: string }[];
    for (const { id } of restores) await this.dispatchRestore(id);
    const stalled = (await this.db.query(`select id from ${SCHEMA}.backups where status = 'running' and progressed_at < $1`, [stalledBefore])) as { id: string }[];
    const seconds = Math.round(this.options.stallMs / 1000);
    for (const { id } of stalled) await this.fail(id, `stalled: no progress from the agent for ${seconds} s (agent gone or restarted)`);
    const stalledRestores = (await this.db.query(`select id, restore_id from ${SCHEMA}.backups where restore_status = 'running' and restore_progressed_at < $1`, [
      stalledBefore,
    ])) as { id: string; restore_id: string }[];
    for (const { id, restore_id } of stalledRestores) await this.failRestore(id, restore_id, `stalled: no progress from the agent for ${seconds} s (agent gone or restarted)`);
  }

  /** Hands a pending backup to its agent; a backup that is not pending (another replica took it) is left alone. */
  async dispatch(backupId: string): Promise<void> {
    const started = await this.kernel.handle('backup', backupId, backupDecider, { type: 'start' }, { actor: BACKUP_ACTOR });
    if (started.events.length === 0) return;
    const { state } = started;
    try {
      const token = await this.sessions.open(backupId, 'backup', state.nodeId);
      await this.agents.request(state.nodeId, 'backup.create', { backup_id: backupId, server_id: state.serverId, token }, 15_000);
    } catch (error) {
      await this.fail(backupId, `the agent of node ${state.nodeId} did not take the backup: ${(error as Error).message}`);
    }
  }

  /** Hands a pending restore to its agent. */
  async dispatchRestore(backupId: string): Promise<void> {
    const restore = (await this.store.load('backup', backupId, backupDecider)).state.restore;
    if (!restore || restore.status !== 'pending') return;
    const begun = await this.kernel.handle('backup', backupId, backupDecider, { type: 'start_restore', restoreId: restore.id }, { actor: BACKUP_ACTOR });
    if (begun.events.length === 0) return;
    const s = begun.state;
    try {
      const token = await this.sessions.open(backupId, 'restore', restore.nodeId, restore.id);
      await this.agents.request(restore.nodeId, 'backup.restore', { backup_id: backupId, server_id: s.serverId, token, manifest: s.manifest, path: restore.path }, 15_000);
    } catch (error) {
      await this.failRestore(backupId, restore.id, `the agent of node ${restore.nodeId} did not take the restore: ${(error as Error).message}`);
    }
  }

  /** Ends a pending or running backup as failed and closes its sessions; an ended one is left as it is. */
  async fail(backupId: string, reason: string): Promise<void> {
    await this.kernel.handle('backup', backupId, backupDecider, { type: 'fail', reason }, { actor: BACKUP_ACTOR });
    await this.sessions.end(backupId, 'backup');
    this.logger.warn(`backup ${backupId} failed: ${reason}`);
  }

  async failRestore(backupId: string, restoreId: string, reason: string): Promise<void> {
    await this.kernel.handle('backup', backupId, backupDecider, { type: 'fail_restore', restoreId, reason }, { actor: BACKUP_ACTOR });
    await this.sessions.end(backupId, 'restore');
    this.logger.warn(`restore ${restoreId} of backup ${backupId} failed: ${reason}`);
  }
}
