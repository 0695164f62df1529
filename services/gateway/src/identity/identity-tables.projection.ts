import type { DataSource, EntityManager } from 'typeorm';
import type { RecordedEvent } from '@encedeus/contracts';
import type { Projection } from '@encedeus/messaging';
import { GATEWAY_SCHEMA } from '../audit/audit.projection';
import { IdentityState, isIdentitySubject, type ApiKeyEntry, type RoleEntry, type UserEntry } from './identity-state';

const USERS = `${GATEWAY_SCHEMA}.identity_users`;
const ROLES = `${GATEWAY_SCHEMA}.identity_roles`;
const KEYS = `${GATEWAY_SCHEMA}.identity_api_keys`;
const REVOKED = `${GATEWAY_SCHEMA}.identity_revoked_sessions`;

/** What `loadIdentity` read: the state at `position`, the checkpoint committed with it. */
export interface IdentitySnapshot {
  state: IdentityState;
  position: number;
}

/**
 * The gateway's identity in Postgres (`gateway.identity_*`), shared by every gateway instance: one
 * durable consumer (`gateway_identity`), one checkpoint. It is what a booting gateway loads instead
 * of replaying EVENTS (IdentityProjection). Each row holds the entry the in-memory fold keeps
 * (IdentityState), as JSON: the tables exist to be loaded whole into that cache, never queried by field.
 */
export class IdentityTablesProjection implements Projection {
  readonly name = 'gateway_identity';
  // nats-server 2.9 has one filter per consumer; other aggregates' events are skipped by subject.
  readonly filterSubject = 'evt.>';
  readonly schema = GATEWAY_SCHEMA;
  readonly tables = [USERS, ROLES, KEYS, REVOKED];

  async migrate(em: EntityManager): Promise<void> {
    for (const table of [USERS, ROLES, KEYS]) await em.query(`create table if not exists ${table} (id text primary key, entry jsonb not null)`);
    await em.query(`create table if not exists ${REVOKED} (family_id text primary key)`);
  }

  /** Loads the entries the batch touches, folds the batch with IdentityState, writes back what changed. */
  async apply(em: EntityManager, events: RecordedEvent[]): Promise<void> {
    const relevant = events.filter((e) => isIdentitySubject(`evt.${e.event.subject.replace('/', '.')}`));
    if (relevant.length === 0) return;
    const touched = { users: new Set<string>(), roles: new Set<string>(), keys: new Set<string>() };
    for (const { event } of relevant) {
      const [aggregate, id] = event.subject.split('/');
      const data = (event.data ?? {}) as { userId?: unknown; roleId?: unknown; keyId?: unknown };
      if (aggregate === 'user') touched.users.add(id);
      if (aggregate === 'role') touched.roles.add(id);
      if (aggregate === 'apikey') touched.keys.add(id);
      if (typeof data.userId === 'string' && aggregate === 'user') touched.users.add(data.userId);
      if (typeof data.roleId === 'string') touched.roles.add(data.roleId);
      if (typeof data.keyId === 'string') touched.keys.add(data.keyId);
    }
    const state = new IdentityState();
    await load(em, USERS, touched.users, state.users);
    await load(em, ROLES, touched.roles, state.roles);
    await load(em, KEYS, touched.keys, state.keys);
    for (const { event } of relevant) state.apply(event);
    await store(em, USERS, touched.users, state.users);
    await store(em, ROLES, touched.roles, state.roles);
    await store(em, KEYS, touched.keys, state.keys);
    if (state.revokedSessions.size > 0) {
      await em.query(`insert into ${REVOKED} (family_id) select unnest($1::text[]) on conflict do nothing`, [[...state.revokedSessions]]);
    }
  }
}

/**
 * The whole identity and the checkpoint it is at, read in one snapshot, so folding the events after
 * `position` onto `state` gives exactly the live identity.
 */
export async function loadIdentity(dataSource: DataSource, projection: IdentityTablesProjection): Promise<IdentitySnapshot> {
  return dataSource.transaction('REPEATABLE READ', async (em) => {
    const [checkpoint] = await em.query(`select last_sequence from "${projection.schema}".projection_checkpoints where name = $1`, [projection.name]);
    const state = new IdentityState();
    for (const row of await em.query(`select id, entry from ${USERS}`)) state.users.set(row.id, row.entry as UserEntry);
    for (const row of await em.query(`select id, entry from ${ROLES}`)) state.roles.set(row.id, row.entry as RoleEntry);
    for (const row of await em.query(`select id, entry from ${KEYS}`)) state.keys.set(row.id, row.entry as ApiKeyEntry);
    for (const row of await em.query(`select family_id from ${REVOKED}`)) state.revokedSessions.add(row.family_id);
    return { state, position: Number(checkpoint?.last_sequence ?? 0) };
  });
}

async function load<T>(em: EntityManager, table: string, ids: Set<string>, into: Map<string, T>): Promise<void> {
  if (ids.size === 0) return;
  for (const row of await em.query(`select id, entry from ${table} where id = any($1::text[])`, [[...ids]])) into.set(row.id, row.entry as T);
}

async function store<T>(em: EntityManager, table: string, ids: Set<string>, from: Map<string, T>): Promise<void> {
  if (ids.size === 0) return;
  const present = [...ids].filter((id) => from.has(id));
  const gone = [...ids].filter((id) => !from.has(id));
  if (present.length > 0) {
    await em.query(
      `insert into ${table} (id, entry) select * from unnest($1::text[], $2::jsonb[]) on conflict (id) do update set entry = excluded.entry`,
      [present, present.map((id) => JSON.stringify(from.get(id)))],
    );
  }
  if (gone.length > 0) await em.query(`delete from ${table} where id = any($1::text[])`, [gone]);
}
