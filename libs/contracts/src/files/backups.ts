import { z } from 'zod';
import { DomainError } from '../errors';
import { text } from '../text';

/*
 * Server backups (issue 11, docs/backups.md): snapshots of a server's directory into the
 * content-addressed chunk store, owned by the files service (aggregate `backup`, one per backup).
 * The agent walks and cuts the directory; it never writes the chunk store itself: it asks the files
 * service which chunks are missing and sends only those, which the files service checks (SHA-256)
 * before storing them.
 */

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const chunkRef = z.object({ hash: sha256, size: z.number().int().min(0) });

/** A backup as REST lists it. */
export const BACKUP_STATUSES = ['pending', 'running', 'completed', 'failed'] as const;
export type BackupStatus = (typeof BACKUP_STATUSES)[number];

/** Where a restore stands (null: none asked yet). */
export type RestoreStatus = 'pending' | 'running' | 'completed' | 'failed';

/** One backup in lists and details (`GET /servers/:id/backups`). */
export interface BackupView {
  id: string;
  server_id: string;
  name: string;
  status: BackupStatus;
  /** Bytes of the files backed up (logical, before dedupe). */
  size: number;
  /** Bytes the backup added to the chunk store (chunks no backup or file had yet). */
  new_bytes: number;
  files_count: number;
  created_at: string;
  completed_at: string | null;
  /** Why it failed (status failed). */
  reason?: string;
  /** Bytes read so far while running. */
  progress_bytes?: number;
  restore?: { id: string; status: RestoreStatus; path: string | null; reason?: string; requested_at: string; completed_at: string | null } | null;
}

/** `POST /servers/:id/backups`. */
export const createBackupBodySchema = z.object({ name: text().min(1).max(100).optional() });
/** A path of a backup, from the server's root: `..` never (the agent's jail would refuse it too). */
const backupPath = text()
  .min(1)
  .max(4096)
  .refine((p) => !p.split('/').some((segment) => segment === '..'), { message: 'must not contain ".."' });
/** `POST /servers/:id/backups/:bid/restore`: the whole server, or one path of it (a file or a directory, from the server's root). */
export const restoreBackupBodySchema = z.object({ path: backupPath.optional() });

/** Default of the per-server backup limit (FILES_BACKUP_LIMIT). */
export const DEFAULT_BACKUP_LIMIT = 10;

/** The per-server backup limit is reached (409). */
export class BackupLimitError extends DomainError {
  constructor(limit: number) {
    super('BACKUP_LIMIT', `The server has ${limit} backups already, its limit; delete one first`, { limit });
  }
}

/** Gateway → files `cmd.files.create_backup`. The gateway checked the caller and found the server's node and owner. */
export const createBackupCommandSchema = z.object({
  server_id: z.uuid(),
  node_id: text().regex(/^[A-Za-z0-9_-]{1,100}$/),
  owner_id: text().max(100),
  name: text().min(1).max(100).optional(),
});
/** Gateway → files `cmd.files.list_backups`. */
export const listBackupsCommandSchema = z.object({
  server_id: z.uuid(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: text().max(500).optional(),
});
/** Gateway → files: `get_backup`, `delete_backup`, `backup_manifest` (the download). */
export const backupRefCommandSchema = z.object({ server_id: z.uuid(), backup_id: z.uuid() });
/** Gateway → files `cmd.files.restore_backup`. */
export const restoreBackupCommandSchema = backupRefCommandSchema.extend({ node_id: text().regex(/^[A-Za-z0-9_-]{1,100}$/), path: backupPath.optional() });

/** One entry of a backup's manifest: a directory or a regular file (symlinks and special files are not backed up). */
export const backupManifestEntrySchema = z.object({
  /**
   * From the server's root, `/`-separated, no leading slash (`world/level.dat`). Refused: an empty,
   * `.` or `..` segment (so a leading or doubled slash too). The manifest comes from
   * an agent, which the gateway does not trust to name paths: it writes them into the tar.gz download.
   */
  path: text()
    .min(1)
    .max(4096)
    .refine((p) => p.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..'), {
      message: 'must be relative, without empty, "." or ".." segments',
    }),
  type: z.enum(['dir', 'file']),
  /** Permission bits (0o777 at most). */
  mode: z.number().int().min(0).max(0o777),
  /** Modification time, milliseconds since the epoch. */
  mtime: z.number(),
  size: z.number().int().min(0),
  chunks: z.array(chunkRef).optional(),
});
export type BackupManifestEntry = z.infer<typeof backupManifestEntrySchema>;
/** The manifest (stored as chunks itself): version 1, entries in walk order (a directory before what it holds). */
export const backupManifestSchema = z.object({ version: z.literal(1), entries: z.array(backupManifestEntrySchema) });
export type BackupManifest = z.infer<typeof backupManifestSchema>;

/** Agent calls carry the backup and the session token the files service gave that agent with the job. */
const agentCall = z.object({ backup_id: z.uuid(), token: z.string().regex(/^[A-Za-z0-9_-]{20,100}$/) });
/** Most hashes one `backup_missing` asks about. */
export const BACKUP_MISSING_BATCH = 1000;
/** Agent → files `cmd.files.backup_missing`: which of these chunks the store lacks (answered `{ missing }`). */
export const backupMissingSchema = agentCall.extend({ hashes: z.array(sha256).min(1).max(BACKUP_MISSING_BATCH) });
/** Agent → files `cmd.files.backup_progress` (backup or restore). */
export const backupProgressSchema = agentCall.extend({ bytes: z.number().int().min(0), files: z.number().int().min(0) });
/** Agent → files `cmd.files.backup_complete`: the manifest's own chunks and what it counts. */
export const backupCompleteSchema = agentCall.extend({ manifest: z.array(chunkRef).min(1).max(100_000), size: z.number().int().min(0), files_count: z.number().int().min(0) });
/** Agent → files `cmd.files.backup_fail` (backup or restore). */
export const backupFailSchema = agentCall.extend({ reason: text().min(1).max(500) });
/** Agent → files `cmd.files.backup_restored`. */
export const backupRestoredSchema = agentCall.extend({ files: z.number().int().min(0), bytes: z.number().int().min(0) });

/** Files → agent `agent.<nodeId>.cmd.backup.create`: answered at once (`{ accepted }`); the agent reports through the calls above. */
export const agentBackupCreateSchema = z.object({ backup_id: z.uuid(), server_id: z.uuid(), token: z.string() });
/** Files → agent `agent.<nodeId>.cmd.backup.restore`. */
export const agentBackupRestoreSchema = z.object({
  backup_id: z.uuid(),
  server_id: z.uuid(),
  token: z.string(),
  manifest: z.array(chunkRef).min(1),
  path: text().min(1).max(4096).nullable(),
});

/**
 * Subjects of the raw (binary) chunk calls of agents, answered by the files service: the chunk's
 * bytes travel as the message body, the backup, token and hash as headers (BACKUP_HEADERS).
 */
export const BACKUP_CHUNK_VERBS = { put: 'backup_put_chunk', get: 'backup_get_chunk' } as const;
export const BACKUP_HEADERS = { backup: 'Encedeus-Backup', token: 'Encedeus-Backup-Token', hash: 'Encedeus-Chunk' } as const;
/** The agent-facing verbs of the files service (agents' NATS users may publish exactly these). */
export const BACKUP_AGENT_VERBS = ['backup_missing', 'backup_progress', 'backup_complete', 'backup_fail', 'backup_restored', BACKUP_CHUNK_VERBS.put, BACKUP_CHUNK_VERBS.get] as const;
