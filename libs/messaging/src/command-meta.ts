import { createHash, randomUUID } from 'node:crypto';
import { headers as natsHeaders, type MsgHdrs } from 'nats';

/** Who asked and why: travels in NATS headers beside every command (never in the payload). */
export interface CommandMeta {
  /** `user:<id>`, `apikey:<id>`, `service:<name>`, `system`. */
  actor: string;
  correlationId?: string;
  idempotencyKey?: string;
  /** If-Match of the REST request: the aggregate version the caller expects. */
  expectedVersion?: number;
  /**
   * A query's consistency floor: the EVENTS sequence of the caller's last write. A replica answers
   * from a read model that has applied at least this far (read-your-writes across replicas).
   */
  minSequence?: number;
}

const H = {
  actor: 'enc-actor',
  correlationId: 'enc-correlation-id',
  idempotencyKey: 'enc-idempotency-key',
  expectedVersion: 'enc-expected-version',
  minSequence: 'enc-min-sequence',
} as const;

export function metaToHeaders(meta: CommandMeta): MsgHdrs {
  const h = natsHeaders();
  h.set(H.actor, meta.actor);
  if (meta.correlationId) h.set(H.correlationId, meta.correlationId);
  if (meta.idempotencyKey) h.set(H.idempotencyKey, meta.idempotencyKey);
  if (meta.expectedVersion !== undefined) h.set(H.expectedVersion, String(meta.expectedVersion));
  if (meta.minSequence) h.set(H.minSequence, String(meta.minSequence));
  return h;
}

/** Reads the meta of a command; a command without an actor is attributed to `system`. */
export function metaFromHeaders(h: MsgHdrs | undefined): CommandMeta {
  const expected = h?.get(H.expectedVersion);
  const floor = Number(h?.get(H.minSequence) || 0);
  return {
    actor: h?.get(H.actor) || 'system',
    correlationId: h?.get(H.correlationId) || undefined,
    idempotencyKey: h?.get(H.idempotencyKey) || undefined,
    expectedVersion: expected ? Number(expected) : undefined,
    minSequence: Number.isSafeInteger(floor) && floor > 0 ? floor : undefined,
  };
}

/**
 * The id of a new aggregate. With an idempotency key it is derived from the actor, the verb and the
 * key (a name-based UUID), so a retried create lands on the aggregate the first attempt created and
 * the command answers it with nothing new to append (a
 * retry after a timeout whose first attempt did commit creates nothing twice).
 */
export function newAggregateId(verb: string, meta: CommandMeta): string {
  if (!meta.idempotencyKey) return randomUUID();
  const hash = createHash('sha256').update(`encedeus:${verb}:${meta.actor}:${meta.idempotencyKey}`).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
