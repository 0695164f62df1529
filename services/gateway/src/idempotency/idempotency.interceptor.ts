import { CallHandler, ExecutionContext, Injectable, StreamableFile, type NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { createHash } from 'node:crypto';
import { catchError, from, mergeMap, of, type Observable } from 'rxjs';
import { ConflictError, DomainError } from '@encedeus/contracts';
import type { Principal } from '@encedeus/security';
import { IdempotencyKeys, type HeldClaim, type RecordedReply } from './idempotency-keys';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const KEY = /^[\x21-\x7e]{1,200}$/;
/** Headers of a reply that a replay must carry too. */
const REPLAYED_HEADERS = ['etag', 'location'];
/** Fields that carry a secret shown once; a reply holding one is never stored (docs/event-store.md). */
const SECRET_FIELDS = new Set(['key', 'secret', 'token', 'creds', 'password', 'accessToken', 'refreshToken', 'access_token', 'refresh_token']);
/** How long this gateway keeps a reply holding a secret in memory, for retries that come through it. */
const SECRET_REPLY_TTL_MS = 10 * 60_000;
const SECRET_REPLIES_MAX = 1000;

/**
 * `Idempotency-Key` on any REST write: the whole command, with every event it appends, runs once per
 * (caller, key); retries, concurrent or later, get the first reply again (`Idempotent-Replayed: true`).
 * The same key with another method, path or body → 422 `IDEMPOTENCY_KEY_REUSED`. A reply that held a
 * secret is never stored in Postgres: this gateway keeps it in memory for ten minutes, so retries
 * that come through it (three concurrent ones, say) get the same answer; elsewhere or later they
 * answer 409. Multipart uploads are not covered (their body is
 * streamed past this point, so it cannot be fingerprinted).
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  /** Replies holding a secret, by `scope\nkey`, kept in this process only (never written anywhere). */
  private readonly secretReplies = new Map<string, { reply: RecordedReply; expiresAt: number }>();

  constructor(private readonly keys: IdempotencyKeys) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<Request & { principal?: Principal | null }>();
    const res = context.switchToHttp().getResponse<Response>();
    const key = req.headers['idempotency-key'];
    if (!WRITES.has(req.method) || key === undefined || !req.principal || req.is('multipart/form-data')) return next.handle();
    if (typeof key !== 'string' || !KEY.test(key)) {
      throw new DomainError('BAD_REQUEST', 'Idempotency-Key must be 1 to 200 visible ASCII characters');
    }
    const scope = req.principal.actor;
    const fingerprint = createHash('sha256')
      .update(`${req.method} ${req.originalUrl}\n${JSON.stringify(req.body ?? null)}`)
      .digest('base64url');

    return from(this.keys.claim(scope, key, fingerprint)).pipe(
      mergeMap((claim) => {
        if (claim.kind === 'replay') return of(this.replay(res, scope, key, claim.reply));
        return next.handle().pipe(
          mergeMap((body) => this.record(scope, key, claim, res, body)),
          catchError(async (error) => {
            await this.keys.release(scope, key, claim).catch(() => undefined);
            throw error;
          }),
        );
      }),
    );
  }

  private async record(scope: string, key: string, claim: HeldClaim, res: Response, body: unknown): Promise<unknown> {
    if (body instanceof StreamableFile || Buffer.isBuffer(body)) {
      await this.keys.release(scope, key, claim);
      return body;
    }
    const reply = { status: res.statusCode, body, headers: recordedHeaders(res), secret: holdsSecret(body) };
    if (reply.secret) this.keepSecretReply(scope, key, reply);
    await this.keys.complete(scope, key, claim, reply);
    return body;
  }

  private keepSecretReply(scope: string, key: string, reply: RecordedReply): void {
    const now = Date.now();
    for (const [k, kept] of this.secretReplies) if (kept.expiresAt < now || this.secretReplies.size >= SECRET_REPLIES_MAX) this.secretReplies.delete(k);
    this.secretReplies.set(`${scope}\n${key}`, { reply, expiresAt: now + SECRET_REPLY_TTL_MS });
  }

  private replay(res: Response, scope: string, key: string, recorded: RecordedReply): unknown {
    let reply = recorded;
    if (recorded.secret) {
      const kept = this.secretReplies.get(`${scope}\n${key}`);
      if (!kept || kept.expiresAt < Date.now()) {
        throw new ConflictError('A request with this Idempotency-Key already ran; its reply held a secret, which is shown only once', { key });
      }
      reply = kept.reply;
    }
    res.status(reply.status);
    for (const [name, value] of Object.entries(reply.headers)) res.setHeader(name, value);
    res.setHeader('Idempotent-Replayed', 'true');
    return reply.body;
  }
}

function recordedHeaders(res: Response): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = res.getHeader(name);
    if (value !== undefined) headers[name] = String(value);
  }
  return headers;
}

/** True when a string sits under a secret-bearing field name anywhere in the body. */
export function holdsSecret(body: unknown, depth = 0): boolean {
  if (depth > 8 || body === null || typeof body !== 'object') return false;
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    if (SECRET_FIELDS.has(name) && typeof value === 'string' && value.length > 0) return true;
    if (typeof value === 'object' && holdsSecret(value, depth + 1)) return true;
  }
  return false;
}
