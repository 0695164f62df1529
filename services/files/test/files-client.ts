import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Response } from 'superagent';
import type { Stack } from '../../gateway/test/stack-harness';

/** Collects a response body as bytes (supertest parses only text and JSON). */
export function binary(res: Response, callback: (error: Error | null, body: Buffer) => void): void {
  const parts: Buffer[] = [];
  res.on('data', (chunk: Buffer) => parts.push(chunk));
  res.on('end', () => callback(null, Buffer.concat(parts)));
  res.on('error', (error: Error) => callback(error, Buffer.alloc(0)));
}

/** REST calls of the files routes as one user (`Bearer <token>`). */
export function filesClient(stack: () => Stack, token: () => string) {
  const auth = () => `Bearer ${token()}`;
  return {
    upload: (path: string, data: Buffer, name = 'file.bin') =>
      stack().http().post('/api/v1/fs/upload').set('Authorization', auth()).field('path', path).attach('file', data, name),
    uploadRaw: (data: Buffer, name = 'raw.bin') => stack().http().post('/api/v1/files/upload').set('Authorization', auth()).attach('file', data, name),
    download: (path: string) => stack().http().get('/api/v1/fs/download').query({ path }).set('Authorization', auth()).buffer(true).parse(binary),
    ls: (path = '/') => stack().http().get('/api/v1/fs/ls').query({ path }).set('Authorization', auth()),
    mkdir: (path: string) => stack().http().post('/api/v1/fs/mkdir').set('Authorization', auth()).send({ path }),
    move: (oldPath: string, newPath: string) => stack().http().post('/api/v1/fs/move').set('Authorization', auth()).send({ old_path: oldPath, new_path: newPath }),
    remove: (path: string) => stack().http().delete('/api/v1/fs/delete').query({ path }).set('Authorization', auth()),
    quota: () => stack().http().get('/api/v1/fs/quota').set('Authorization', auth()),
    stats: () => stack().http().get('/api/v1/fs/stats').set('Authorization', auth()),
  };
}

export interface MultipartUpload {
  /** The answer's status and body. */
  answer: Promise<{ status: number; body: string }>;
  /** Writes the rest of the file and the closing boundary. */
  finish(): void;
  /** Resolves once `bytes` of the file were handed to the socket. */
  written(bytes: number): Promise<void>;
}

/**
 * A streamed multipart `POST /api/v1/fs/upload` of `blocks` (`size` bytes in all), written as the
 * socket takes it; it pauses once `pauseAfter` bytes are out until `finish()` (a slow or cut-off
 * client, a service stopped mid-upload).
 */
export function uploadStream(url: URL, token: string, path: string, size: number, blocks: Iterable<Buffer>, pauseAfter = Infinity): MultipartUpload {
  const boundary = 'b' + randomUUID().replace(/-/g, '');
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n${path}\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const req = httpRequest(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(head.length + size + tail.length) },
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
  const iterator = blocks[Symbol.iterator]();
  let sent = 0;
  const waiting: { bytes: number; resolve: () => void }[] = [];
  let resume: (() => void) | undefined;
  const pump = async () => {
    req.write(head);
    for (let next = iterator.next(); !next.done; next = iterator.next()) {
      if (sent >= pauseAfter && !resume) await new Promise<void>((r) => (resume = r));
      const ok = req.write(next.value);
      sent += next.value.length;
      for (const w of waiting.filter((w) => sent >= w.bytes)) w.resolve();
      if (!ok) await new Promise((r) => req.once('drain', r));
    }
    req.end(tail);
  };
  pump().catch(() => undefined);
  return {
    answer,
    finish: () => (resume ? resume() : (resume = () => undefined)),
    written: (bytes) => new Promise<void>((resolve) => (sent >= bytes ? resolve() : waiting.push({ bytes, resolve }))),
  };
}
