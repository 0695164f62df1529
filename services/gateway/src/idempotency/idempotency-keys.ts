import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ConflictError, DomainError } from '@encedeus/contracts';
import { lockSchemaMigration } from '@encedeus/messaging';
import { GATEWAY_SCHEMA } from '../audit/audit.projection';

const TABLE = `${GATEWAY_SCHEMA}.idempotency_keys`;

/** How long a recorded reply is replayed for a retried key (docs/event-store.md, "Idempotency keys"). */
export const IDEMPOTENCY_WINDOW_MS = 24 * 3600_000;
/** The request holding a claim renews it this often while it runs (a job may run for minutes). */
const HEARTBEAT_MS = 5_000;
/** A claim not renewed for this long belongs to a gateway that died: a retry takes it over. */
const TAKEOVER_AFTER_MS = 20_000;
/** How long a retry waits for the first request with its key before answering 409. */
const WAIT_FOR_FIRST_MS = 30_000;

/** The reply recorded for a key: replayed to every retry. A reply that held a secret is not kept. */
export interface RecordedReply {
  status: number;
  body: unknown;
  headers: Record<string, string>;
  /** The reply held a secret shown once (an API key, NATS credentials, an enrollment token): only the fact is kept. */
  secret?: boolean;
}

/** A claim on a key: `release`/`complete` act only while this claim still holds it. */
export interface HeldClaim {
  kind: 'claimed';
  token: string;
  /** Stops renewing the claim. */
  stop(): void;
}

export type Claim = HeldClaim | { kind: 'replay'; reply: RecordedReply };

interface Row {
  fingerprint: string;
  state: string;
  status: number;
  body: unknown;
  headers: Record<string, string>;
  secret: boolean;
  claim: string;
  age_ms: number;
  silent_ms: number;
}

/**
 * Idempotency keys of REST commands, shared by every gateway replica through Postgres. The first
 * request with a key claims it (insert … on conflict do nothing), renews the claim while it runs,
 * and records its reply; concurrent and later retries wait for that reply and get it; the same key
 * with another request fingerprint is refused with 422 `IDEMPOTENCY_KEY_REUSED`. A failed request
 * releases its key so that a retry runs again.
 */
@Injectable()
export class IdempotencyKeys implements OnModuleInit, OnModuleDestroy {
  private sweeper?: NodeJS.Timeout;

  constructor(private readonly db: DataSource) {}

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  async onModuleInit(): Promise<void> {
    this.sweeper = setInterval(() => void this.sweep().catch(() => undefined), 10 * 60_000).unref();
    await this.db.transaction(async (em) => {
      await lockSchemaMigration(em, GATEWAY_SCHEMA);
      await em.query(`create schema if not exists ${GATEWAY_SCHEMA}`);
      await em.query(`create table if not exists ${TABLE} (
        scope text not null,
        key text not null,
        fingerprint text not null,
        state text not null,
        status integer,
        body jsonb,
        headers jsonb,
        created_at timestamptz not null default now(),
        primary key (scope, key)
      )`);
      await em.query(`alter table ${TABLE} add column if not exists claim text`);
      await em.query(`alter table ${TABLE} add column if not exists heartbeat_at timestamptz not null default now()`);
      await em.query(`alter table ${TABLE} add column if not exists secret boolean not null default false`);
      await em.query(`create index if not exists idempotency_keys_created on ${TABLE} (created_at)`);
    });
  }

  /** Claims `key` for this request, or returns the reply recorded by the first request with it. */
  async claim(scope: string, key: string, fingerprint: string): Promise<Claim> {
    const deadline = Date.now() + WAIT_FOR_FIRST_MS;
    for (let wait = 20; ; wait = Math.min(wait * 2, 250)) {
      const token = randomUUID();
      const inserted = await this.db.query(
        `insert into ${TABLE} (scope, key, fingerprint, state, claim) values ($1, $2, $3, 'pending', $4) on conflict do nothing returning 1`,
        [scope, key, fingerprint, token],
      );
      if (inserted.length > 0) return this.hold(scope, key, token);
      const [row] = (await this.db.query(
        `select fingerprint, state, status, body, headers, secret, claim,
                extract(epoch from now() - created_at) * 1000 as age_ms,
                extract(epoch from now() - heartbeat_at) * 1000 as silent_ms
           from ${TABLE} where scope = $1 and key = $2`,
        [scope, key],
      )) as Row[];
      if (!row) continue;
      const abandoned = row.state === 'pending' && row.silent_ms > TAKEOVER_AFTER_MS;
      if (row.age_ms > IDEMPOTENCY_WINDOW_MS || abandoned) {
        await this.db.query(`delete from ${TABLE} where scope = $1 and key = $2 and claim is not distinct from $3`, [scope, key, row.claim]);
        continue;
      }
      if (row.fingerprint !== fingerprint) {
        throw new DomainError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used for a different request', { key });
      }
      if (row.state === 'done') return { kind: 'replay', reply: { status: row.status, body: row.body, headers: row.headers ?? {}, secret: row.secret } };
      if (Date.now() > deadline) throw new ConflictError('The first request with this Idempotency-Key is still running; retry later', { key });
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  private hold(scope: string, key: string, token: string): HeldClaim {
    const renew = setInterval(() => {
      void this.db
        .query(`update ${TABLE} set heartbeat_at = now() where scope = $1 and key = $2 and claim = $3 and state = 'pending'`, [scope, key, token])
        .catch(() => undefined);
    }, HEARTBEAT_MS).unref();
    return { kind: 'claimed', token, stop: () => clearInterval(renew) };
  }

  /** Records the reply of the request that holds `claim`. */
  async complete(scope: string, key: string, claim: HeldClaim, reply: RecordedReply): Promise<void> {
    claim.stop();
    await this.db.query(
      `update ${TABLE} set state = 'done', status = $4, body = $5, headers = $6, secret = $7 where scope = $1 and key = $2 and claim = $3`,
      [scope, key, claim.token, reply.status, JSON.stringify(reply.secret ? null : (reply.body ?? null)), JSON.stringify(reply.headers), !!reply.secret],
    );
  }

  /** Forgets a claim whose request failed, so that a retry runs again. */
  async release(scope: string, key: string, claim: HeldClaim): Promise<void> {
    claim.stop();
    await this.db.query(`delete from ${TABLE} where scope = $1 and key = $2 and claim = $3 and state = 'pending'`, [scope, key, claim.token]);
  }

  /** Drops records older than the window (every 10 minutes). */
  async sweep(): Promise<void> {
    await this.db.query(`delete from ${TABLE} where created_at < now() - make_interval(secs => $1)`, [IDEMPOTENCY_WINDOW_MS / 1000]);
  }
}
