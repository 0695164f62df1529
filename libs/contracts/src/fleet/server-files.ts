import { z } from 'zod';
import { isSafeText, text } from '../text';

/*
 * The server file manager (issue 11): REST `/api/v1/servers/:id/files/…` → `cmd.nodes.server_files`
 * → `agent.<nodeId>.cmd.fs.<verb>`. Paths are relative to the server's directory (`/` is its root);
 * the agent's jail resolves them (docs/server-files.md).
 */

/** Largest file `contents` returns and `write` accepts (bytes); above it 413. Travels base64 in one NATS message. */
export const SERVER_FILE_TEXT_MAX_BYTES = 512 * 1024;

/** Most paths one delete or compress names. */
export const SERVER_FILE_MAX_PATHS = 1000;

/** Verbs on `agent.<nodeId>.cmd.fs.<verb>`. */
export const SERVER_FILE_VERBS = ['list', 'contents', 'write', 'rename', 'copy', 'delete', 'mkdir', 'chmod', 'compress', 'decompress'] as const;
export type ServerFileVerb = (typeof SERVER_FILE_VERBS)[number];

/**
 * A path inside a server's directory. NUL is let through here on purpose: the agent's jail refuses it
 * with 400 `BAD_REQUEST` (`reason: nul`) like `..`, so every traversal attempt gets one answer; lone
 * surrogates are 422 as everywhere.
 */
export const serverFilePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((s) => isSafeText(s.split('\0').join('')), { message: 'must not contain lone surrogates' });

/** `GET list?path=&limit=&cursor=`: one page of a directory, sorted by name. */
export const listServerFilesSchema = z.object({
  path: serverFilePath.default('/'),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  cursor: text().max(500).optional(),
});
export const serverFilePathQuerySchema = z.object({ path: serverFilePath });
export const renameServerFileSchema = z.object({ from: serverFilePath, to: serverFilePath });
export const copyServerFileSchema = z.object({ path: serverFilePath });
export const deleteServerFilesSchema = z.object({ paths: z.array(serverFilePath).min(1).max(SERVER_FILE_MAX_PATHS) });
export const mkdirServerFileSchema = z.object({ path: serverFilePath });
export const chmodServerFileSchema = z.object({ path: serverFilePath, mode: z.union([z.string().regex(/^0?[0-7]{3}$/), z.number().int().min(0).max(0o777)]) });
export const compressServerFilesSchema = z.object({
  paths: z.array(serverFilePath).min(1).max(SERVER_FILE_MAX_PATHS),
  name: text().min(1).max(255).regex(/^[^/]+$/, 'a file name, without /').optional(),
});
export const decompressServerFileSchema = z.object({ path: serverFilePath });
/** The agent's `fs.write`: the body base64 (binary-safe in JSON). */
export const writeServerFileSchema = z.object({ path: serverFilePath, data: z.base64().max(Math.ceil(SERVER_FILE_TEXT_MAX_BYTES / 3) * 4 + 4) });

/** Arguments of each verb (the agent validates them again; `server_id` travels beside them). */
export const SERVER_FILE_ARGS: Readonly<Record<ServerFileVerb, z.ZodType>> = {
  list: listServerFilesSchema,
  contents: serverFilePathQuerySchema,
  write: writeServerFileSchema,
  rename: renameServerFileSchema,
  copy: copyServerFileSchema,
  delete: deleteServerFilesSchema,
  mkdir: mkdirServerFileSchema,
  chmod: chmodServerFileSchema,
  compress: compressServerFilesSchema,
  decompress: decompressServerFileSchema,
};

/** `cmd.nodes.server_files`: the gateway checked the caller; nodes finds the node and asks its agent. */
export const serverFilesCommandSchema = z.object({
  id: z.uuid(),
  verb: z.enum(SERVER_FILE_VERBS),
  args: z.record(z.string(), z.unknown()),
});
export type ServerFilesCommand = z.infer<typeof serverFilesCommandSchema>;

/** One entry of a directory listing. */
export interface ServerFileEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  /** Bytes (a symlink: the length of its target). */
  size: number;
  /** Permission bits as octal text, e.g. `0644`. */
  mode: string;
  /** ISO-8601 modification time. */
  modified: string;
}

/** `fs.contents` reply: the bytes base64 (the gateway answers them raw). */
export interface ServerFileContents {
  data: string;
  size: number;
}
