import { z } from 'zod';
import { text } from '../text';
import { defineEvent } from './registry';

/*
 * Events of the files service: one aggregate per user (`evt.file.<userId>`, the user's drive), so
 * path uniqueness and the quota are decided on one consistent state. All types carry the `file.`
 * prefix (the aggregate), where issue 10 names folder.created and quota.set.
 */

const chunk = z.object({ hash: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int() });

export const FileUploaded = defineEvent(
  'file.uploaded',
  z.object({
    /** The VFS path, or null for a raw file. */
    path: text().nullable(),
    file_id: z.uuid(),
    name: text(),
    size: z.number().int(),
    sha256: text(),
    chunks: z.array(chunk),
    /** The file it replaced at that path, if any. */
    replaced: z.boolean().optional(),
  }),
  "A file's chunks were stored and its metadata recorded (replacing a file at the same VFS path).",
);
export const FileMoved = defineEvent(
  'file.moved',
  z.object({ old_path: text(), new_path: text() }),
  'A file or folder (with everything below it) was moved or renamed; missing parent folders are created by folder_created events before it.',
);
export const FileDeleted = defineEvent(
  'file.deleted',
  z.object({ path: text().nullable(), file_id: z.uuid().nullable(), freed_bytes: z.number().int() }),
  'A file, or a folder with everything below it (recursive), or a raw file (file_id) was deleted; its chunks are collected once nothing references them.',
);
export const FolderCreated = defineEvent('file.folder_created', z.object({ path: text() }), 'A folder was created in the user\'s VFS.');
export const QuotaSet = defineEvent('file.quota_set', z.object({ bytes: z.number().int() }), "An administrator set the user's storage quota.");
