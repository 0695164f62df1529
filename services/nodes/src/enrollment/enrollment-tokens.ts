import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { migrateSchema } from '@encedeus/messaging';
import { parseEnrollmentToken, parseShortEnrollmentToken } from '@encedeus/contracts';
import { SCHEMA } from '../projections/fleet.projection';

/** What consuming a token found: the node, or why not. */
export type ConsumeResult = { ok: true; nodeId: string } | { ok: false; reason: 'unknown' | 'used' | 'expired' };

/**
 * One-time enrollment tokens. Only a SHA-256 of the secret is stored (never in EVENTS); a token is
 * consumed atomically, so two agents racing with one token get one node.
 *
 * Token format (issue 14): `enc_<first 8 hex of the node id>_<32 url-safe random chars>`, a short
 * reference to this row; the agent trades it once for its credentials (`POST /api/v1/agent/enroll`
 * on the gateway, or `cmd.nodes.enroll` as a bootstrap user). Tokens of the older form
 * `enc1.<nodeId>.<secret>[.<creds>]` issued before are still accepted until they expire.
 */
export class EnrollmentTokens {
  constructor(private readonly dataSource: DataSource) {}

  async migrate(): Promise<void> {
    await migrateSchema(this.dataSource, SCHEMA, async (em) => {
      await em.query(
        `create table if not exists ${SCHEMA}.enrollment_tokens (node_id uuid primary key, token_hash bytea not null, expires_at timestamptz not null, used_at timestamptz)`,
      );
      await em.query(`create index if not exists enrollment_tokens_hash on ${SCHEMA}.enrollment_tokens (token_hash)`);
    });
  }

  /** Issues a new token for a node, voiding any earlier one. */
  async issue(nodeId: string, expiresAt: Date): Promise<string> {
    const secret = randomBytes(24).toString('base64url');
    await this.dataSource.query(
      `insert into ${SCHEMA}.enrollment_tokens (node_id, token_hash, expires_at, used_at) values ($1, $2, $3, null)
       on conflict (node_id) do update set token_hash = excluded.token_hash, expires_at = excluded.expires_at, used_at = null`,
      [nodeId, hash(secret), expiresAt],
    );
    return `enc_${nodeId.replace(/-/g, '').slice(0, 8)}_${secret}`;
  }

  /**
   * Consumes a token atomically. A used or expired token is told apart from an unknown one only for
   * whoever holds its whole secret (the row is found by the secret's hash), so it leaks nothing.
   */
  async consume(token: string): Promise<ConsumeResult> {
    const short = parseShortEnrollmentToken(token);
    const legacy = short ? undefined : parseEnrollmentToken(token);
    if (!short && !legacy) return { ok: false, reason: 'unknown' };
    const secretHash = hash(short ? short.secret : legacy!.secret);
    const rows: { node_id: string; expired: boolean; used: boolean }[] = short
      ? await this.dataSource.query(
          `select node_id, expires_at <= now() as expired, used_at is not null as used from ${SCHEMA}.enrollment_tokens where token_hash = $1`,
          [secretHash],
        )
      : await this.dataSource.query(
          `select node_id, expires_at <= now() as expired, used_at is not null as used from ${SCHEMA}.enrollment_tokens where node_id = $1`,
          [legacy!.nodeId],
        );
    const row = rows.find((r) => (short ? r.node_id.replace(/-/g, '').startsWith(short.nodePrefix) : true));
    if (!row) return { ok: false, reason: 'unknown' };
    if (!short) {
      const stored: { token_hash: Buffer }[] = await this.dataSource.query(`select token_hash from ${SCHEMA}.enrollment_tokens where node_id = $1`, [row.node_id]);
      if (stored.length === 0 || !timingSafeEqual(stored[0].token_hash, secretHash)) return { ok: false, reason: 'unknown' };
    }
    if (row.used) return { ok: false, reason: 'used' };
    if (row.expired) return { ok: false, reason: 'expired' };
    const [, count] = await this.dataSource.query(
      `update ${SCHEMA}.enrollment_tokens set used_at = now() where node_id = $1 and token_hash = $2 and used_at is null and expires_at > now()`,
      [row.node_id, secretHash],
    );
    return count === 1 ? { ok: true, nodeId: row.node_id } : { ok: false, reason: 'used' };
  }

  async remove(nodeId: string): Promise<void> {
    await this.dataSource.query(`delete from ${SCHEMA}.enrollment_tokens where node_id = $1`, [nodeId]);
  }
}

function hash(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

