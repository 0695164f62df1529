import {
  BackupCompleted,
  BackupDeleted,
  BackupFailed,
  BackupLimitError,
  BackupProgressed,
  BackupRequested,
  BackupRestored,
  BackupRestoreFailed,
  BackupRestoreProgressed,
  BackupRestoreRequested,
  BackupRestoreStarted,
  BackupStarted,
  ConflictError,
  event,
  NotFoundError,
  type CloudEvent,
  type FileChunkRef,
  type NewEvent,
} from '@encedeus/contracts';
import type { Decider } from '@encedeus/messaging';

/** Progress is recorded as an event at most this often (the stall check needs only a recent one); less when the stall timeout is short. */
export const PROGRESS_EVERY_MS = 5000;

export interface RestoreState {
  id: string;
  status: 'pending' | 'running' | 'completed' | 'failed';
  path: string | null;
  nodeId: string;
  progressedAt: string;
}

/** One backup (aggregate `backup`, id = the backup's id). Plain data, so a snapshot is JSON. */
export interface BackupState {
  status: 'none' | 'pending' | 'running' | 'completed' | 'failed' | 'deleted';
  serverId: string;
  nodeId: string;
  ownerId: string;
  name: string;
  /** Last progress (or start) recorded: the stall check's clock. */
  progressedAt: string;
  size: number;
  newBytes: number;
  filesCount: number;
  manifest: FileChunkRef[];
  reason: string | null;
  restore: RestoreState | null;
}

export const initialBackup = (): BackupState => ({
  status: 'none',
  serverId: '',
  nodeId: '',
  ownerId: '',
  name: '',
  progressedAt: '',
  size: 0,
  newBytes: 0,
  filesCount: 0,
  manifest: [],
  reason: null,
  restore: null,
});

export function evolveBackup(state: BackupState, e: Pick<CloudEvent, 'type' | 'data'> & { time?: string }): BackupState {
  const d = e.data as Record<string, any>;
  const at = e.time ?? new Date(0).toISOString();
  switch (e.type) {
    case BackupRequested.type:
      return { ...state, status: 'pending', serverId: d.server_id, nodeId: d.node_id, ownerId: d.owner_id, name: d.name, progressedAt: at };
    case BackupStarted.type:
      return { ...state, status: 'running', nodeId: d.node_id, progressedAt: at };
    case BackupProgressed.type:
      return { ...state, progressedAt: at };
    case BackupCompleted.type:
      return { ...state, status: 'completed', size: d.size, newBytes: d.new_bytes, filesCount: d.files_count, manifest: d.manifest };
    case BackupFailed.type:
      return { ...state, status: 'failed', reason: d.reason };
    case BackupDeleted.type:
      return { ...state, status: 'deleted' };
    case BackupRestoreRequested.type:
      return { ...state, restore: { id: d.restore_id, status: 'pending', path: d.path, nodeId: d.node_id, progressedAt: at } };
    case BackupRestoreStarted.type:
      return state.restore ? { ...state, restore: { ...state.restore, status: 'running', progressedAt: at } } : state;
    case BackupRestoreProgressed.type:
      return state.restore ? { ...state, restore: { ...state.restore, progressedAt: at } } : state;
    case BackupRestored.type:
      return state.restore ? { ...state, restore: { ...state.restore, status: 'completed' } } : state;
    case BackupRestoreFailed.type:
      return state.restore ? { ...state, restore: { ...state.restore, status: 'failed' } } : state;
    default:
      return state;
  }
}

export type BackupCommand =
  /** `existing`: backups of the server that are not deleted (the handler counts them); `limit` from config. */
  | { type: 'request'; serverId: string; nodeId: string; ownerId: string; name: string; existing: number; limit: number }
  /** The process manager hands the backup to the agent: pending → running; anything else decides nothing. */
  | { type: 'start' }
  /** `everyMs`: the least time between two recorded progress events (PROGRESS_EVERY_MS, or less for a short stall timeout). */
  | { type: 'progress'; bytes: number; files: number; newBytes: number; now: string; everyMs: number }
  | { type: 'complete'; size: number; newBytes: number; filesCount: number; manifest: FileChunkRef[] }
  /** Ends a pending or running backup; an ended one is no change. */
  | { type: 'fail'; reason: string }
  | { type: 'delete' }
  | { type: 'request_restore'; restoreId: string; nodeId: string; path: string | null }
  | { type: 'start_restore'; restoreId: string }
  | { type: 'progress_restore'; restoreId: string; bytes: number; files: number; now: string; everyMs: number }
  | { type: 'complete_restore'; restoreId: string; bytes: number; files: number }
  | { type: 'fail_restore'; restoreId: string; reason: string };

const active = (s: BackupState) => s.status === 'pending' || s.status === 'running';
const restoring = (s: BackupState) => s.restore?.status === 'pending' || s.restore?.status === 'running';

function assertExists(state: BackupState, id = ''): void {
  if (state.status === 'none' || state.status === 'deleted') throw new NotFoundError('Backup', id || undefined);
}

/** A restore command for another restore than the one in progress decides nothing (a late agent call). */
const currentRestore = (s: BackupState, restoreId: string) => s.restore?.id === restoreId;

/** The backup decider (see BackupCommand). */
export const backupDecider: Decider<BackupState, BackupCommand> = {
  name: 'backup-v1',
  initialState: initialBackup,
  evolve: evolveBackup,
  decide(cmd: BackupCommand, state: BackupState): NewEvent[] {
    const server = { server_id: state.serverId };
    switch (cmd.type) {
      case 'request':
        if (state.status !== 'none') return []; // the same request again (an idempotent retry)
        if (cmd.existing >= cmd.limit) throw new BackupLimitError(cmd.limit);
        return [event(BackupRequested, { server_id: cmd.serverId, node_id: cmd.nodeId, owner_id: cmd.ownerId, name: cmd.name })];
      case 'start':
        return state.status === 'pending' ? [event(BackupStarted, { ...server, node_id: state.nodeId })] : [];
      case 'progress':
        if (state.status !== 'running') throw new ConflictError(`The backup is ${state.status}, not running`, { reason: 'not_running' });
        if (Date.parse(cmd.now) - Date.parse(state.progressedAt) < cmd.everyMs) return [];
        return [event(BackupProgressed, { ...server, bytes: cmd.bytes, files: cmd.files, new_bytes: cmd.newBytes })];
      case 'complete':
        if (state.status === 'completed') return [];
        if (state.status !== 'running') throw new ConflictError(`The backup is ${state.status}, not running`, { reason: 'not_running' });
        return [event(BackupCompleted, { ...server, size: cmd.size, new_bytes: cmd.newBytes, files_count: cmd.filesCount, manifest: cmd.manifest })];
      case 'fail':
        return active(state) ? [event(BackupFailed, { ...server, reason: cmd.reason })] : [];
      case 'delete':
        assertExists(state);
        if (active(state)) throw new ConflictError('The backup is still being taken; wait until it completes or fails', { reason: 'backup_running' });
        if (restoring(state)) throw new ConflictError('The backup is being restored; wait until the restore ends', { reason: 'restore_running' });
        return [event(BackupDeleted, server)];
      case 'request_restore':
        assertExists(state);
        if (state.restore?.id === cmd.restoreId) return [];
        if (state.status !== 'completed') throw new ConflictError(`Only a completed backup can be restored (this one is ${state.status})`, { reason: 'not_completed' });
        if (restoring(state)) throw new ConflictError('A restore of this backup is in progress', { reason: 'restore_running' });
        return [event(BackupRestoreRequested, { ...server, restore_id: cmd.restoreId, node_id: cmd.nodeId, path: cmd.path })];
      case 'start_restore':
        return currentRestore(state, cmd.restoreId) && state.restore!.status === 'pending' ? [event(BackupRestoreStarted, { ...server, restore_id: cmd.restoreId })] : [];
      case 'progress_restore':
        if (!currentRestore(state, cmd.restoreId) || state.restore!.status !== 'running') throw new ConflictError('No such restore is running', { reason: 'not_running' });
        if (Date.parse(cmd.now) - Date.parse(state.restore!.progressedAt) < cmd.everyMs) return [];
        return [event(BackupRestoreProgressed, { ...server, restore_id: cmd.restoreId, bytes: cmd.bytes, files: cmd.files })];
      case 'complete_restore':
        if (currentRestore(state, cmd.restoreId) && state.restore!.status === 'completed') return [];
        if (!currentRestore(state, cmd.restoreId) || state.restore!.status !== 'running') throw new ConflictError('No such restore is running', { reason: 'not_running' });
        return [event(BackupRestored, { ...server, restore_id: cmd.restoreId, files: cmd.files, bytes: cmd.bytes })];
      case 'fail_restore':
        return currentRestore(state, cmd.restoreId) && restoring(state) ? [event(BackupRestoreFailed, { ...server, restore_id: cmd.restoreId, reason: cmd.reason })] : [];
    }
  },
};
