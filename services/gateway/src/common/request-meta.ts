import type { Request } from 'express';
import { DomainError } from '@encedeus/contracts';
import type { CommandMeta } from '@encedeus/messaging';
import type { Principal } from '@encedeus/security';

/**
 * The CommandMeta of a REST request: actor from the principal, correlation id = request id,
 * `Idempotency-Key` header, and `If-Match` (an ETag holding the aggregate version) as expectedVersion.
 */
export function commandMeta(req: Request, principal: Principal | null): CommandMeta {
  const ifMatch = req.headers['if-match'];
  let expectedVersion: number | undefined;
  if (typeof ifMatch === 'string' && ifMatch.trim() !== '*') {
    const parsed = Number(ifMatch.replace(/^W\//, '').replace(/"/g, '').trim());
    if (!Number.isInteger(parsed) || parsed < 0) throw new DomainError('BAD_REQUEST', 'If-Match must be an ETag from a previous response, e.g. "3"');
    expectedVersion = parsed;
  }
  const idempotencyKey = req.headers['idempotency-key'];
  return {
    actor: principal?.actor ?? 'system',
    correlationId: String((req as Request & { id?: unknown }).id ?? req.headers['x-request-id'] ?? ''),
    idempotencyKey: typeof idempotencyKey === 'string' && idempotencyKey ? idempotencyKey.slice(0, 200) : undefined,
    expectedVersion,
  };
}

/** ETag of an aggregate version: `"<version>"`. */
export function etag(version: number): string {
  return `"${version}"`;
}
