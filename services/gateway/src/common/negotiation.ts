import type { Request, Response } from 'express';
import { pack, unpack } from 'msgpackr';

export const MSGPACK_TYPES = ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'];

/** True when the client prefers MessagePack over JSON (seed 002's agents speak it). */
export function wantsMsgpack(req: Request): boolean {
  const accept = String(req.headers.accept ?? '');
  return MSGPACK_TYPES.some((t) => accept.includes(t));
}

/** Sends a body as JSON or MessagePack, following the Accept header. */
export function sendBody(req: Request, res: Response, status: number, body: unknown): void {
  res.status(status);
  if (wantsMsgpack(req)) {
    res.setHeader('Content-Type', 'application/msgpack');
    res.end(pack(body));
    return;
  }
  res.json(body);
}

export { pack, unpack };
