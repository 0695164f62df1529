import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { DomainError } from '@encedeus/contracts';
import { MSGPACK_TYPES, unpack } from './negotiation';

/** Largest JSON/MessagePack body accepted. Uploads stream through multipart instead. */
export const MAX_BODY_BYTES = 1024 * 1024;

const PARSED = Symbol('encedeus.bodyParsed');

/** Hands on a body read and parsed by an earlier handler (the agent-data fast path): the parser leaves it as it is. */
export function markParsed(req: IncomingMessage, body: unknown): void {
  (req as IncomingMessage & { body: unknown; [PARSED]?: true }).body = body;
  (req as IncomingMessage & { [PARSED]?: true })[PARSED] = true;
}

function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/**
 * Routes that read their raw body themselves, whatever its type (PUT /servers/:id/files/write).
 * Case-insensitive like Express's routing: `/FILES/Write` reaches the same handler, whose body must
 * not have been parsed (and consumed) here.
 */
const RAW_BODY_ROUTES = [
  { method: 'PUT', path: /^\/api\/v1\/servers\/[^/]+\/files\/write\/?$/i },
  // The repository webhook's signature covers the exact bytes of its body.
  { method: 'POST', path: /^\/api\/v1\/webhooks\/repository\/sync\/?$/i },
];

/**
 * Content negotiation for request bodies (DESIGN.md §5): `application/json` and MessagePack are
 * parsed here; multipart is left to the upload routes, raw bodies to RAW_BODY_ROUTES; anything else is 415; a body that does not
 * parse is 400; one over MAX_BODY_BYTES is 413.
 */
export function bodyParserMiddleware(req: Request, _res: Response, next: NextFunction): void {
  if (!hasBody(req) || req.method === 'GET' || req.method === 'HEAD' || (req as Request & { [PARSED]?: true })[PARSED]) return next();
  if (RAW_BODY_ROUTES.some((r) => r.method === req.method && r.path.test(req.path))) return next();
  const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'multipart/form-data') return next();
  const isJson = type === 'application/json' || type.endsWith('+json');
  const isMsgpack = MSGPACK_TYPES.includes(type);
  if (!isJson && !isMsgpack) {
    return next(new DomainError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${type || '(none)'} is not supported; send application/json or application/msgpack`));
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) return next(new DomainError('PAYLOAD_TOO_LARGE', `The body is larger than ${MAX_BODY_BYTES} bytes`));
  const chunks: Buffer[] = [];
  let size = 0;
  let failed = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES && !failed) {
      failed = true;
      next(new DomainError('PAYLOAD_TOO_LARGE', `The body is larger than ${MAX_BODY_BYTES} bytes`));
      return;
    }
    if (!failed) chunks.push(chunk);
  });
  req.on('error', (error) => { if (!failed) { failed = true; next(error); } });
  req.on('end', () => {
    if (failed) return;
    const raw = Buffer.concat(chunks);
    try {
      (req as Request & { body: unknown }).body = raw.length === 0 ? undefined : isJson ? JSON.parse(raw.toString('utf8')) : unpack(raw);
    } catch (error) {
      return next(new DomainError('MALFORMED_BODY', `The body is not valid ${isJson ? 'JSON' : 'MessagePack'}: ${(error as Error).message}`));
    }
    next();
  });
}
