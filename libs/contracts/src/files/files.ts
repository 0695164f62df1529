import { z } from 'zod';
import { DomainError } from '../errors';
import { isSafeText, text } from '../text';

/** Longest name of one file or folder, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;
/** Longest path, in UTF-8 bytes. */
export const MAX_PATH_BYTES = 4096;
/** Quota of a user nobody set one for: 10 GiB (the files service may configure another). */
export const DEFAULT_QUOTA_BYTES = 10 * 1024 ** 3;

const encoder = new TextEncoder();
const utf8Bytes = (s: string) => encoder.encode(s).length;

/** A path the VFS refuses: `..`, `.`, NUL, empty segments, a name over 255 bytes, a path over 4096. */
export class InvalidPathError extends DomainError {
  constructor(reason: string) {
    super('VALIDATION_FAILED', `Invalid path: ${reason}`, { fields: [{ path: 'path', message: reason }] });
  }
}

/** The upload would take the user over their quota (413). */
export class QuotaExceededError extends DomainError {
  constructor(usedBytes: number, quotaBytes: number, wantedBytes: number) {
    super('QUOTA_EXCEEDED', `The upload of ${wantedBytes} bytes exceeds the quota (${usedBytes} of ${quotaBytes} bytes used)`, {
      used_bytes: usedBytes,
      quota_bytes: quotaBytes,
      wanted_bytes: wantedBytes,
    });
  }
}

/**
 * The canonical form of a VFS path: `/` or `/a/b` (leading slash, no trailing one). Refuses rather
 * than repairs: `..`, `.`, empty segments (`//`, a trailing `/`), NUL and lone surrogates, control
 * characters, a backslash, a name over 255 bytes, a path over 4096 bytes (InvalidPathError, 422).
 */
export function normalizeVfsPath(path: unknown): string {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidPathError('a path is required');
  if (!isSafeText(path)) throw new InvalidPathError('NUL bytes and lone surrogates are not allowed');
  if (utf8Bytes(path) > MAX_PATH_BYTES) throw new InvalidPathError(`longer than ${MAX_PATH_BYTES} bytes`);
  if (!path.startsWith('/')) throw new InvalidPathError('must start with /');
  if (path === '/') return '/';
  const segments = path.slice(1).split('/');
  for (const segment of segments) {
    if (segment === '') throw new InvalidPathError('empty segments are not allowed');
    if (segment === '.' || segment === '..') throw new InvalidPathError('"." and ".." are not allowed');
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f\\]/.test(segment)) throw new InvalidPathError('control characters and backslashes are not allowed');
    if (utf8Bytes(segment) > MAX_NAME_BYTES) throw new InvalidPathError(`a name is longer than ${MAX_NAME_BYTES} bytes`);
  }
  return `/${segments.join('/')}`;
}

/** The folder holding `path` (`/` for a top-level entry). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The last segment of `path`. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** `path` is `ancestor` or lies below it. */
export function isWithin(path: string, ancestor: string): boolean {
  return ancestor === '/' || path === ancestor || path.startsWith(`${ancestor}/`);
}

/** A path in a request; normalised by normalizeVfsPath. */
export const vfsPathSchema = text().max(MAX_PATH_BYTES * 4).transform((p) => normalizeVfsPath(p));

const chunkRefSchema = z.object({ hash: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().min(1) });
export type FileChunkRef = z.infer<typeof chunkRefSchema>;

/** The gateway (which stored the chunks) asks the files service to record an upload. */
export const commitUploadSchema = z.object({
  user_id: text().max(100),
  upload_id: z.uuid(),
  /** A VFS path, or absent for a raw file (`/files/upload`). */
  path: vfsPathSchema.optional(),
  /** Raw file name (its basename for VFS uploads). */
  name: text().min(1).max(MAX_NAME_BYTES),
  size: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  chunks: z.array(chunkRefSchema).max(1_000_000),
});
export type CommitUpload = z.infer<typeof commitUploadSchema>;

export const beginUploadSchema = z.object({
  user_id: text().max(100),
  upload_id: z.uuid(),
  /** The VFS path it will replace, if any: that file's bytes count as available. */
  path: vfsPathSchema.optional(),
  /** Bytes the client declared (Content-Length), an upper bound reserved until commit or abort. */
  declared_bytes: z.number().int().min(0).optional(),
});

export const userPathSchema = z.object({ user_id: text().max(100), path: vfsPathSchema });
export const movePathBodySchema = z.object({ old_path: vfsPathSchema, new_path: vfsPathSchema });
export const mkdirBodySchema = z.object({ path: vfsPathSchema });
export const setQuotaBodySchema = z.object({ bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) });

/** An entry of `GET /fs/ls` (seed 001). */
export interface FsEntry {
  name: string;
  type: 'file' | 'folder';
  size: number;
  modified: string;
}

/** A file stored at a path of a user's VFS (`POST /fs/upload`, a server file exported): its entry, path and digest. */
export interface VfsFileView extends FsEntry {
  type: 'file';
  path: string;
  sha256: string;
  chunks_count: number;
}

/** A raw file (`/files`, seed 001). */
export interface RawFileView {
  id: string;
  name: string;
  size: number;
  chunks_count: number;
  status: 'Uploaded';
  sha256: string;
  created_at: string;
}

/** What the gateway needs to stream a file: its chunks, size and digest. */
export interface FileContent {
  name: string;
  size: number;
  sha256: string;
  modified: string;
  chunks: FileChunkRef[];
}

export interface QuotaView {
  used_bytes: number;
  quota_bytes: number;
}

export interface FsStats {
  chunks: number;
  stored_bytes: number;
  logical_bytes: number;
  dedupe_ratio: number;
}
