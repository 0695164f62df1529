import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import multer, { MulterError, type StorageEngine } from 'multer';
import { DomainError, type FileContent } from '@encedeus/contracts';
import { readChunks, type ChunkStore } from '@encedeus/chunks';

/** One part of a multipart body as multer hands it to a storage engine. */
export type UploadPart = Express.Multer.File & { stream: Readable };

/**
 * Reads a multipart body with one `file` part and hands that part's stream to `receive` as it
 * arrives (a multer storage engine that never buffers the file: issue 10 forbids memory storage).
 * Fields sent before the file are in `req.body` when `receive` runs. Resolves with what `receive`
 * returned; a malformed body is 400, a missing file 422.
 */
export async function receiveUpload<T>(req: Request, res: Response, receive: (part: UploadPart) => Promise<T>): Promise<T> {
  let result: { value: T } | undefined;
  let receiving: Promise<T> | undefined;
  const storage: StorageEngine = {
    _handleFile(_req, file, cb) {
      receiving = receive(file as UploadPart);
      receiving.then(
        (value) => {
          result = { value };
          cb(null, {});
        },
        (error: unknown) => cb(error as Error),
      );
    },
    _removeFile(_req, _file, cb) {
      cb(null);
    },
  };
  const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'multipart/form-data') throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'Send the file as multipart/form-data with a part named "file"');
  await new Promise<void>((resolve, reject) => {
    multer({ storage, limits: { files: 1, fields: 10, fieldSize: 16 * 1024, parts: 12, headerPairs: 50 } }).single('file')(req, res, (error?: unknown) => {
      if (!error) return resolve();
      const malformed = (e: unknown) =>
        e instanceof DomainError
          ? e
          : e instanceof MulterError
            ? new DomainError('BAD_REQUEST', `Malformed upload: ${e.message}${e.field ? ` (${e.field})` : ''}`)
            : new DomainError('BAD_REQUEST', `Malformed upload: ${(e as Error)?.message ?? String(e)}`);
      // The part's stream may fail because receive stopped reading it (quota): receive's reason wins.
      if (receiving) receiving.then(() => reject(malformed(error)), (reason: unknown) => reject(reason instanceof DomainError ? reason : malformed(error)));
      else reject(malformed(error));
    });
  });
  if (!result) throw new DomainError('VALIDATION_FAILED', 'The multipart body has no part named "file"', { fields: [{ path: 'file', message: 'required' }] });
  return result.value;
}

/** A byte range of a file (inclusive end), or undefined for the whole file; 416 for one that cannot be served. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges, or another unit: serve the whole file (RFC 9110 allows ignoring Range).
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    start = Math.max(0, size - suffix);
    end = size - 1;
    if (suffix === 0) start = size;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start > end || start >= size) {
    throw Object.assign(new DomainError('RANGE_NOT_SATISFIABLE', `The range ${header} is outside the file's ${size} bytes`, { size }), { status: 416 });
  }
  return { start, end };
}

/** `attachment` with an ASCII fallback and the UTF-8 name (RFC 6266). */
export function contentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * Streams a file from its chunk list: ETag (the file's SHA-256), `If-None-Match` → 304, `Range`
 * → 206 with Content-Range (416 outside the file), Content-Disposition. Memory stays flat
 * (readChunks fetches two chunks ahead).
 */
export async function sendFile(store: ChunkStore, content: FileContent, req: Request, res: Response): Promise<void> {
  const etag = `"${content.sha256}"`;
  res.setHeader('ETag', etag);
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Last-Modified', new Date(content.modified).toUTCString());
  res.setHeader('Content-Disposition', contentDisposition(content.name));
  res.setHeader('Cache-Control', 'private, no-cache');
  const ifNoneMatch = req.headers['if-none-match'];
  if (typeof ifNoneMatch === 'string' && ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) {
    res.status(304).end();
    return;
  }
  let range: { start: number; end: number } | undefined;
  try {
    range = parseRange(typeof req.headers.range === 'string' ? req.headers.range : undefined, content.size);
  } catch (error) {
    res.status(416).setHeader('Content-Range', `bytes */${content.size}`);
    res.json((error as DomainError).toBody());
    return;
  }
  res.setHeader('Content-Type', 'application/octet-stream');
  if (range) {
    res.status(206).setHeader('Content-Range', `bytes ${range.start}-${range.end}/${content.size}`);
    res.setHeader('Content-Length', String(range.end - range.start + 1));
  } else {
    res.status(200).setHeader('Content-Length', String(content.size));
  }
  if (req.method === 'HEAD' || content.size === 0) {
    res.end();
    return;
  }
  try {
    await pipeline(Readable.from(readChunks(store, content.chunks, range ?? {})), res);
  } catch {
    // Headers are out: the client sees a cut body (Content-Length tells it); nothing else to send.
    res.destroy();
  }
}
