import { z } from 'zod';
import { isSafeText, text } from '../text';
import { subjectToken } from '../subjects';

/*
 * The server file manager (issue 11): REST `/api/v1/servers/:id/files/…` → `cmd.nodes.server_files`
 * → `agent.<nodeId>.cmd.fs.<verb>`. Paths are relative to the server's directory (`/` is its root);
 * the agent's jail resolves them (docs/server-files.md).
 */

/** Largest file `contents` returns and `write` accepts (bytes); above it 413. Travels base64 in one NATS message. */
export const SERVER_FILE_TEXT_MAX_BYTES = 512 * 1024;

/** Most paths one delete or compress names. */
export const SERVER_FILE_MAX_PATHS = 1000;

/**
 * Verbs on `agent.<nodeId>.cmd.fs.<verb>`. `open_read`, `open_write` and `commit_write` set up and
 * finish a streamed transfer (download, upload, VFS import/export); its bytes then travel on
 * `agent.<nodeId>.xfer.<transfer>.<op>` (Subjects of SERVER_FILE_TRANSFER below), not as verbs.
 */
export const SERVER_FILE_VERBS = ['list', 'contents', 'write', 'rename', 'copy', 'delete', 'mkdir', 'chmod', 'compress', 'decompress', 'open_read', 'open_write', 'commit_write'] as const;
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

/** A transfer's id: 32 hex digits the agent draws (the capability to move its bytes). */
export const serverFileTransferId = z.string().regex(/^[0-9a-f]{32}$/, 'a transfer id');
/** `fs.open_read`: a regular file opened for a streamed read. */
export const openReadServerFileSchema = z.object({ path: serverFilePath });
/**
 * `fs.open_write`: a hidden temporary file made beside `path` (the file to create or replace); the
 * bytes come as `write` messages, then `commit_write` renames it into place. `expected_bytes`, when
 * known, is refused at once when it cannot fit in the server's disk limit.
 */
export const openWriteServerFileSchema = z.object({ path: serverFilePath, expected_bytes: z.number().int().min(0).optional() });
/** `fs.commit_write`: the transfer's bytes are all there (`size` of them): rename into place. */
export const commitWriteServerFileSchema = z.object({ path: serverFilePath, transfer: serverFileTransferId, size: z.number().int().min(0) });

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
  open_read: openReadServerFileSchema,
  open_write: openWriteServerFileSchema,
  commit_write: commitWriteServerFileSchema,
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

/** `fs.open_read` reply (with the node the nodes service added): read it in chunks on SERVER_FILE_TRANSFER.subject(…, 'read'). */
export interface ServerFileReadTransfer {
  node_id: string;
  transfer: string;
  /** Bytes at open: the transfer serves exactly these (a file the server's process keeps growing is cut there). */
  size: number;
  /** The file's base name. */
  name: string;
  modified: string;
}

/** `fs.open_write` reply (with the node): send the bytes on SERVER_FILE_TRANSFER.subject(…, 'write'), then `commit_write`. */
export interface ServerFileWriteTransfer {
  node_id: string;
  transfer: string;
}

/** `fs.rename` reply. */
export interface ServerFileRenamed {
  renamed: true;
}

/** `fs.mkdir` reply. */
export interface ServerDirectoryCreated {
  created: true;
}

/** `fs.chmod` reply. */
export interface ServerFileModeChanged {
  changed: true;
}

/** What an upload or an import answers once committed: the file's path in the server directory and its bytes. */
export interface ServerFileWritten {
  path: string;
  size: number;
}

/**
 * The data plane of a streamed transfer (docs/server-files.md, "Streamed transfers"): requests from
 * the gateway straight to the agent on `agent.<nodeId>.xfer.<transfer>.<op>`, answered by the agent.
 * NATS messages are at most max_payload (1 MiB by default), so bytes go in chunks of `chunkBytes`,
 * at most `window` requests in flight: the agent reads or writes only what is asked (flow control
 * without buffering). An error answer has an empty body and the header `Encedeus-Error` (an
 * ErrorBody as JSON).
 * - `read`: body `{ offset, length }` (JSON, length ≤ chunkBytes) → the bytes (fewer only at the end).
 * - `write`: body the bytes, header `Encedeus-Offset` → empty.
 * - `close`: → empty; a write transfer not committed is aborted (its temporary file removed).
 */
export const SERVER_FILE_TRANSFER = {
  chunkBytes: 256 * 1024,
  window: 8,
  /** A transfer nobody touched for this long is closed by the agent (an upload's temporary file removed). */
  idleMs: 60_000,
  errorHeader: 'Encedeus-Error',
  offsetHeader: 'Encedeus-Offset',
  subject: (nodeId: string, transfer: string, op: 'read' | 'write' | 'close') => `agent.${subjectToken(nodeId)}.xfer.${subjectToken(transfer)}.${op}`,
  /** What an agent subscribes: its own transfers. */
  agentScope: (nodeId: string) => `agent.${subjectToken(nodeId)}.xfer.*.*`,
  /** What the gateway may publish. */
  all: 'agent.*.xfer.>',
} as const;

/** `POST /servers/:id/files/import`: a file of the caller's VFS copied into the server directory `to`. */
export const importServerFileSchema = z.object({ vfs_path: text().min(1).max(20_000), to: serverFilePath });
/** `POST /servers/:id/files/export`: a server file copied to the caller's VFS at `vfs_path` (replaced if it exists). */
export const exportServerFileSchema = z.object({ path: serverFilePath, vfs_path: text().min(1).max(20_000) });
/** `POST upload?path=<directory>&upload_id=&socket_id=`: progress goes to that socket of the same user. */
export const uploadServerFileQuerySchema = z.object({
  path: serverFilePath.default('/'),
  upload_id: text().min(1).max(100).optional(),
  socket_id: text().min(1).max(100).optional(),
});

/** socket.io `server_files.progress` to the uploader's socket: bytes moved so far of a transfer. */
export interface ServerFileProgress {
  upload_id: string;
  server_id: string;
  op: 'upload' | 'import' | 'export';
  path: string;
  bytes: number;
  /** When known (import, export; an upload's is its Content-Length, an upper bound). */
  total?: number;
  done: boolean;
}
