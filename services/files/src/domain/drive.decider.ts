import {
  baseName,
  ConflictError,
  event,
  FileDeleted,
  FileMoved,
  FileUploaded,
  FolderCreated,
  isWithin,
  NotFoundError,
  parentOf,
  QuotaExceededError,
  QuotaSet,
  ValidationError,
  type CloudEvent,
  type FileChunkRef,
  type NewEvent,
} from '@encedeus/contracts';
import type { Decider } from '@encedeus/messaging';

/** A stored file: its content is its chunk list. */
export interface StoredFileEntry {
  id: string;
  name: string;
  size: number;
  sha256: string;
  chunks: FileChunkRef[];
  modified: string;
}

/**
 * One user's drive (aggregate `file`, id = the user's id): folders and files of the VFS by path,
 * raw files by id, the quota and the bytes used. Plain objects, so a snapshot is JSON.
 */
export interface DriveState {
  /** Set by file.quota_set; null = the service's default. */
  quotaBytes: number | null;
  usedBytes: number;
  /** Folder path → created at. `/` always exists and is not listed. */
  folders: Record<string, string>;
  /** VFS path → file. */
  files: Record<string, StoredFileEntry>;
  /** Raw file id → file (`/files`). */
  raw: Record<string, StoredFileEntry>;
}

export const initialDrive = (): DriveState => ({ quotaBytes: null, usedBytes: 0, folders: {}, files: {}, raw: {} });

const renamed = (path: string, from: string, to: string) => (path === from ? to : to + path.slice(from.length));

export function evolveDrive(state: DriveState, e: Pick<CloudEvent, 'type' | 'data'> & { time?: string }): DriveState {
  const d = e.data as Record<string, any>;
  const at = e.time ?? new Date(0).toISOString();
  switch (e.type) {
    case FolderCreated.type:
      return { ...state, folders: { ...state.folders, [d.path]: at } };
    case FileUploaded.type: {
      const entry: StoredFileEntry = { id: d.file_id, name: d.name, size: d.size, sha256: d.sha256, chunks: d.chunks, modified: at };
      if (d.path === null) return { ...state, raw: { ...state.raw, [entry.id]: entry }, usedBytes: state.usedBytes + entry.size };
      const previous = state.files[d.path]?.size ?? 0;
      return { ...state, files: { ...state.files, [d.path]: entry }, usedBytes: state.usedBytes - previous + entry.size };
    }
    case FileMoved.type: {
      const folders: Record<string, string> = {};
      for (const [p, t] of Object.entries(state.folders)) folders[isWithin(p, d.old_path) ? renamed(p, d.old_path, d.new_path) : p] = t;
      const files: Record<string, StoredFileEntry> = {};
      for (const [p, f] of Object.entries(state.files)) {
        const moved = isWithin(p, d.old_path);
        files[moved ? renamed(p, d.old_path, d.new_path) : p] = moved && p === d.old_path ? { ...f, name: baseName(d.new_path), modified: at } : f;
      }
      return { ...state, folders, files };
    }
    case FileDeleted.type: {
      if (d.file_id) {
        const { [d.file_id]: gone, ...raw } = state.raw;
        return { ...state, raw, usedBytes: state.usedBytes - (gone?.size ?? 0) };
      }
      const folders = Object.fromEntries(Object.entries(state.folders).filter(([p]) => !isWithin(p, d.path)));
      let freed = 0;
      const files: Record<string, StoredFileEntry> = {};
      for (const [p, f] of Object.entries(state.files)) {
        if (isWithin(p, d.path)) freed += f.size;
        else files[p] = f;
      }
      return { ...state, folders, files, usedBytes: state.usedBytes - freed };
    }
    case QuotaSet.type:
      return { ...state, quotaBytes: d.bytes };
    default:
      return state;
  }
}

export const isFolder = (state: DriveState, path: string) => path === '/' || state.folders[path] !== undefined;
export const exists = (state: DriveState, path: string) => isFolder(state, path) || state.files[path] !== undefined;
export const quotaOf = (state: DriveState, defaultQuota: number) => state.quotaBytes ?? defaultQuota;

/** folder_created for each missing folder from the top down to `path` itself; a file on the way is a conflict. */
function ensureFolders(state: DriveState, path: string): NewEvent[] {
  const missing: string[] = [];
  for (let p = path; p !== '/'; p = parentOf(p)) {
    if (state.files[p]) throw new ConflictError(`${p} is a file, not a folder`, { path: p });
    if (isFolder(state, p)) break;
    missing.unshift(p);
  }
  return missing.map((p) => event(FolderCreated, { path: p }));
}

export type DriveCommand =
  /** mkdir -p: creates the folder and its missing parents; an existing folder is no change. */
  | { type: 'mkdir'; path: string }
  /**
   * Records an upload whose chunks are stored. `path` null = a raw file. `reservedByOthers`: bytes
   * other uploads of this user hold (the handler reads them); `defaultQuota` from config.
   */
  | { type: 'commit_upload'; path: string | null; fileId: string; name: string; size: number; sha256: string; chunks: FileChunkRef[]; defaultQuota: number; reservedByOthers: number }
  | { type: 'move'; oldPath: string; newPath: string }
  | { type: 'delete'; path: string }
  | { type: 'delete_raw'; fileId: string }
  | { type: 'set_quota'; bytes: number };

function decideCommit(state: DriveState, cmd: Extract<DriveCommand, { type: 'commit_upload' }>): NewEvent[] {
  const listed = cmd.chunks.reduce((n, c) => n + c.size, 0);
  if (listed !== cmd.size) throw new ValidationError(`The chunks add up to ${listed} bytes, not ${cmd.size}`, [{ path: 'chunks', message: 'sizes do not add up' }]);
  const events: NewEvent[] = [];
  let replacing = 0;
  if (cmd.path !== null) {
    if (cmd.path === '/' || isFolder(state, cmd.path)) throw new ConflictError(`${cmd.path} is a folder`, { path: cmd.path });
    events.push(...ensureFolders(state, parentOf(cmd.path)));
    replacing = state.files[cmd.path]?.size ?? 0;
  } else if (state.raw[cmd.fileId]) {
    return []; // the same upload committed again (a retried request)
  }
  const quota = quotaOf(state, cmd.defaultQuota);
  const after = state.usedBytes - replacing + cmd.size;
  if (after + cmd.reservedByOthers > quota) throw new QuotaExceededError(state.usedBytes, quota, cmd.size);
  events.push(
    event(FileUploaded, { path: cmd.path, file_id: cmd.fileId, name: cmd.name, size: cmd.size, sha256: cmd.sha256, chunks: cmd.chunks, ...(cmd.path !== null && state.files[cmd.path] ? { replaced: true } : {}) }),
  );
  return events;
}

function decideMove(state: DriveState, oldPath: string, newPath: string): NewEvent[] {
  if (oldPath === '/') throw new ValidationError('The root folder cannot be moved', [{ path: 'old_path', message: 'is the root' }]);
  if (!exists(state, oldPath)) throw new NotFoundError('Path', oldPath);
  if (oldPath === newPath) return [];
  if (isWithin(newPath, oldPath)) throw new ValidationError('A folder cannot be moved into itself', [{ path: 'new_path', message: 'lies inside old_path' }]);
  if (exists(state, newPath)) throw new ConflictError(`${newPath} exists already`, { path: newPath });
  return [...ensureFolders(state, parentOf(newPath)), event(FileMoved, { old_path: oldPath, new_path: newPath })];
}

function decideDelete(state: DriveState, path: string): NewEvent[] {
  if (path === '/') throw new ValidationError('The root folder cannot be deleted', [{ path: 'path', message: 'is the root' }]);
  if (!exists(state, path)) throw new NotFoundError('Path', path);
  const freed = Object.entries(state.files).reduce((n, [p, f]) => n + (isWithin(p, path) ? f.size : 0), 0);
  return [event(FileDeleted, { path, file_id: null, freed_bytes: freed })];
}

/** The drive decider (see DriveCommand). */
export const driveDecider: Decider<DriveState, DriveCommand> = {
  name: 'drive-v1',
  initialState: initialDrive,
  evolve: evolveDrive,
  decide(cmd: DriveCommand, state: DriveState): NewEvent[] {
    switch (cmd.type) {
      case 'mkdir':
        if (cmd.path === '/') return [];
        return ensureFolders(state, cmd.path);
      case 'commit_upload':
        return decideCommit(state, cmd);
      case 'move':
        return decideMove(state, cmd.oldPath, cmd.newPath);
      case 'delete':
        return decideDelete(state, cmd.path);
      case 'delete_raw': {
        const file = state.raw[cmd.fileId];
        if (!file) throw new NotFoundError('File', cmd.fileId);
        return [event(FileDeleted, { path: null, file_id: cmd.fileId, freed_bytes: file.size })];
      }
      case 'set_quota':
        return state.quotaBytes === cmd.bytes ? [] : [event(QuotaSet, { bytes: cmd.bytes })];
    }
  },
};
