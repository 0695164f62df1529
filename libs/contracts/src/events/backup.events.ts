import { z } from 'zod';
import { text } from '../text';
import { defineEvent } from './registry';

/*
 * Events of server backups (issue 11), owned by the files service: one aggregate per backup
 * (`evt.backup.<backupId>`). Every event carries `server_id`, so a consumer can route it to the
 * server without state. Chunk hashes of the files are never in events: they are in the manifest,
 * which is stored as chunks and referenced by backup.completed.
 */

const chunk = z.object({ hash: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int() });
const server = { server_id: z.uuid() };

export const BackupRequested = defineEvent(
  'backup.requested',
  z.object({ ...server, node_id: text(), owner_id: text(), name: text() }),
  'A backup of a server was asked for; the files service asks the server\'s agent to take it.',
);
export const BackupStarted = defineEvent('backup.started', z.object({ ...server, node_id: text() }), "The server's agent was asked to take the backup and accepted.");
export const BackupProgressed = defineEvent(
  'backup.progressed',
  z.object({ ...server, bytes: z.number().int(), files: z.number().int(), new_bytes: z.number().int() }),
  'The agent reported progress (recorded at most every few seconds; a backup with no progress for the stall timeout fails).',
);
export const BackupCompleted = defineEvent(
  'backup.completed',
  z.object({ ...server, size: z.number().int(), new_bytes: z.number().int(), files_count: z.number().int(), manifest: z.array(chunk) }),
  'Every chunk of the backup is stored; `manifest` lists the chunks of its manifest (paths, modes, mtimes and chunk lists of every file).',
);
export const BackupFailed = defineEvent('backup.failed', z.object({ ...server, reason: text() }), 'The backup ended without a snapshot (agent error, agent gone, stalled).');
export const BackupDeleted = defineEvent('backup.deleted', z.object({ ...server }), 'The backup was deleted; its chunks are collected once nothing else references them.');
export const BackupRestoreRequested = defineEvent(
  'backup.restore_requested',
  z.object({ ...server, restore_id: z.uuid(), node_id: text(), path: text().nullable() }),
  'A restore of the backup (the whole server, or one path) was asked for.',
);
export const BackupRestoreStarted = defineEvent('backup.restore_started', z.object({ ...server, restore_id: z.uuid() }), "The server's agent accepted the restore.");
export const BackupRestoreProgressed = defineEvent(
  'backup.restore_progressed',
  z.object({ ...server, restore_id: z.uuid(), bytes: z.number().int(), files: z.number().int() }),
  'The agent reported restore progress (at most every few seconds).',
);
export const BackupRestored = defineEvent(
  'backup.restored',
  z.object({ ...server, restore_id: z.uuid(), files: z.number().int(), bytes: z.number().int() }),
  "The server's files (or the path) are those of the backup again.",
);
export const BackupRestoreFailed = defineEvent('backup.restore_failed', z.object({ ...server, restore_id: z.uuid(), reason: text() }), 'The restore ended unfinished (agent error, agent gone, stalled).');
