import { headers as natsHeaders, type MsgHdrs } from 'nats';

/** Who asked and why: travels in NATS headers beside every command (never in the payload). */
export interface CommandMeta {
  /** `user:<id>`, `apikey:<id>`, `service:<name>`, `system`. */
  actor: string;
  correlationId?: string;
  idempotencyKey?: string;
  /** If-Match of the REST request: the aggregate version the caller expects. */
  expectedVersion?: number;
}

const H = {
  actor: 'enc-actor',
  correlationId: 'enc-correlation-id',
  idempotencyKey: 'enc-idempotency-key',
  expectedVersion: 'enc-expected-version',
} as const;

export function metaToHeaders(meta: CommandMeta): MsgHdrs {
  const h = natsHeaders();
  h.set(H.actor, meta.actor);
  if (meta.correlationId) h.set(H.correlationId, meta.correlationId);
  if (meta.idempotencyKey) h.set(H.idempotencyKey, meta.idempotencyKey);
  if (meta.expectedVersion !== undefined) h.set(H.expectedVersion, String(meta.expectedVersion));
  return h;
}

/** Reads the meta of a command; a command without an actor is attributed to `system`. */
export function metaFromHeaders(h: MsgHdrs | undefined): CommandMeta {
  const expected = h?.get(H.expectedVersion);
  return {
    actor: h?.get(H.actor) || 'system',
    correlationId: h?.get(H.correlationId) || undefined,
    idempotencyKey: h?.get(H.idempotencyKey) || undefined,
    expectedVersion: expected ? Number(expected) : undefined,
  };
}
