import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { migrateSchema } from '@encedeus/messaging';
import { parseEnrollmentToken } from '@encedeus/contracts';
import { SCHEMA } from '../projections/fleet.projection';

/**
 * One-time enrollment tokens. Only a SHA-256 of the secret is stored (never in EVENTS); a token is
 * consumed atomically, so two agents racing with one token get one node.
 *
 * Token format: `enc1.<nodeId>.<secret>[.<base64url bootstrap creds>]`: the bootstrap creds (a user
 * allowed only to request `cmd.nodes.enroll`, expiring with the token) ride inside so
 * `npm run agent -- --nats <url> --token <token>` is all an operator types.
 */
export class EnrollmentTokens {
  constructor(private readonly dataSource: DataSource) {}

  async migrate(): Promise<void> {
    await migrateSchema(this.dataSource, SCHEMA, async (em) => {
      await em.query(
        `create table if not exists ${SCHEMA}.enrollment_tokens (node_id uuid primary key, token_hash bytea not null, expires_at timestamptz not null, used_at timestamptz)`,
      );
    });
  }

  /** Issues a new token for a node, voiding any earlier one. */
  async issue(nodeId: string, expiresAt: Date): Promise<string> {
    const secret = randomBytes(32).toString('base64url');
    await this.dataSource.query(
      `insert into ${SCHEMA}.enrollment_tokens (node_id, token_hash, expires_at, used_at) values ($1, $2, $3, null)
       on conflict (node_id) do update set token_hash = excluded.token_hash, expires_at = excluded.expires_at, used_at = null`,
      [nodeId, hash(secret), expiresAt],
    );
    return `enc1.${nodeId}.${secret}`;
  }

  /** Consumes a token; returns the node id, or undefined when it is unknown, used or expired. */
  async consume(token: string): Promise<string | undefined> {
    const parsed = parseEnrollmentToken(token);
    if (!parsed) return undefined;
    const rows: { token_hash: Buffer }[] = await this.dataSource.query(
      `select token_hash from ${SCHEMA}.enrollment_tokens where node_id = $1 and used_at is null and expires_at > now()`,
      [parsed.nodeId],
    );
    if (rows.length === 0 || !timingSafeEqual(rows[0].token_hash, hash(parsed.secret))) return undefined;
    const [, count] = await this.dataSource.query(
      `update ${SCHEMA}.enrollment_tokens set used_at = now() where node_id = $1 and token_hash = $2 and used_at is null`,
      [parsed.nodeId, hash(parsed.secret)],
    );
    return count === 1 ? parsed.nodeId : undefined;
  }

  async remove(nodeId: string): Promise<void> {
    await this.dataSource.query(`delete from ${SCHEMA}.enrollment_tokens where node_id = $1`, [nodeId]);
  }
}

function hash(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

