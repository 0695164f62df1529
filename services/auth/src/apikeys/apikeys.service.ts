import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { NotFoundError, type ApiKeyView } from '@encedeus/contracts';
import { CommandHandler, EventStore, type Decider } from '@encedeus/messaging';
import { generateApiKey, hashApiKey } from '@encedeus/security';
import { apiKeyReducer, decideApiKey, type ApiKeyCommand, type ApiKeyState } from '../domain/apikey.decider';
import { AuthState } from '../state/auth-state';

interface ApiKeyRow {
  id: string;
  name: string;
  prefix: string;
  owner_id: string;
  service_account_id: string | null;
  permissions: string[];
  expires_at: Date | null;
  created_at: Date;
  revoked_at: Date | null;
}

const view = (r: ApiKeyRow): ApiKeyView => ({
  id: r.id,
  name: r.name,
  prefix: r.prefix,
  permissions: r.permissions,
  expiresAt: r.expires_at ? new Date(r.expires_at).toISOString() : null,
  serviceAccountId: r.service_account_id,
  ownerId: r.owner_id,
  createdAt: new Date(r.created_at).toISOString(),
  revokedAt: r.revoked_at ? new Date(r.revoked_at).toISOString() : null,
});

const apiKeyDecider: Decider<ApiKeyState, ApiKeyCommand> = { ...apiKeyReducer, decide: decideApiKey };

/**
 * API keys: the `apikey` aggregate's events go to EVENTS (no hash), the SHA-256 of the key to
 * auth.api_keys. The key itself is returned once by `create` and never stored.
 */
@Injectable()
export class ApiKeysService {
  private readonly commands: CommandHandler;

  constructor(private readonly state: AuthState, store: EventStore) {
    this.commands = new CommandHandler(store);
  }

  async create(
    input: { name: string; permissions: string[]; expiresAt?: string | null; ownerId: string; serviceAccountId?: string | null },
    actor: string,
  ): Promise<ApiKeyView & { key: string; sequence: number }> {
    const id = randomUUID();
    const { key, prefix } = generateApiKey();
    const expiresAt = input.expiresAt ? new Date(input.expiresAt).toISOString() : null;
    const ownerId = input.serviceAccountId ?? input.ownerId;
    // The hash first: a key whose event failed to append can never resolve (no event → unknown to the gateway).
    await this.state.query(
      `insert into auth.api_keys (id, name, prefix, key_hash, owner_id, service_account_id, permissions, expires_at) values ($1,$2,$3,$4,$5,$6,$7,$8)`,
      [id, input.name, prefix, hashApiKey(key), ownerId, input.serviceAccountId ?? null, JSON.stringify(input.permissions), expiresAt],
    );
    try {
      const result = await this.commands.handle(
        'apikey',
        id,
        apiKeyDecider,
        { kind: 'create', keyId: id, name: input.name, prefix, ownerId, serviceAccountId: input.serviceAccountId ?? null, permissions: input.permissions, expiresAt },
        { actor },
      );
      const [row] = await this.state.query<ApiKeyRow>(`select * from auth.api_keys where id = $1`, [id]);
      return { ...view(row), key, sequence: result.revision.sequence };
    } catch (error) {
      await this.state.query(`delete from auth.api_keys where id = $1`, [id]);
      throw error;
    }
  }

  async list(ownerId: string | undefined, limit: number, cursor?: string): Promise<{ items: ApiKeyView[]; nextCursor: string | null }> {
    const params: unknown[] = [];
    const where: string[] = [];
    if (ownerId) where.push(`owner_id = $${params.push(ownerId)}`);
    if (cursor) where.push(`(created_at, id) > (select created_at, id from auth.api_keys where id = $${params.push(cursor)}::uuid)`);
    const rows = await this.state.query<ApiKeyRow>(
      `select * from auth.api_keys ${where.length ? 'where ' + where.join(' and ') : ''} order by created_at, id limit ${limit + 1}`,
      params,
    );
    return { items: rows.slice(0, limit).map(view), nextCursor: rows.length > limit ? rows[limit - 1].id : null };
  }

  async get(id: string): Promise<ApiKeyView> {
    const [row] = await this.state.query<ApiKeyRow>(`select * from auth.api_keys where id = $1`, [id]);
    if (!row) throw new NotFoundError('API key', id);
    return view(row);
  }

  async revoke(id: string, actor: string, reason: 'revoked' | 'owner_deleted' = 'revoked'): Promise<ApiKeyView & { sequence: number }> {
    await this.get(id);
    const { revision } = await this.commands.handle('apikey', id, apiKeyDecider, { kind: 'revoke', reason }, { actor });
    const sequence = revision.sequence;
    await this.state.query(`update auth.api_keys set revoked_at = coalesce(revoked_at, now()) where id = $1`, [id]);
    return { ...(await this.get(id)), sequence };
  }

  async resolve(keyHash: string): Promise<{ id: string }> {
    const [row] = await this.state.query<{ id: string }>(`select id from auth.api_keys where key_hash = $1`, [keyHash]);
    if (!row) throw new NotFoundError('API key');
    return { id: row.id };
  }

  async revokeAllOf(userId: string, actor: string): Promise<void> {
    const rows = await this.state.query<{ id: string }>(`select id from auth.api_keys where owner_id = $1 and revoked_at is null`, [userId]);
    for (const { id } of rows) await this.revoke(id, actor, 'owner_deleted');
  }
}
