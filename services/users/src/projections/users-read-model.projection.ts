import type { EntityManager } from 'typeorm';
import {
  RoleCreated,
  RoleDeleted,
  RoleUpdated,
  UserCreated,
  UserDeleted,
  UserRoleAssigned,
  UserSshKeyAdded,
  UserSshKeyRemoved,
  UserUpdated,
  type EventData,
  type RecordedEvent,
} from '@encedeus/contracts';
import type { Projection } from '@encedeus/messaging';

/**
 * Read model of users and roles in schema `users`. One projection over `evt.>` (nats-server 2.9
 * allows one filter) so user and role events apply in stream order under one checkpoint.
 */
export class UsersReadModelProjection implements Projection {
  readonly name = 'users_read_model';
  readonly filterSubject = 'evt.>';
  readonly tables = ['users.users', 'users.user_roles', 'users.roles', 'users.ssh_keys'];

  readonly schema = 'users';

  async migrate(em: EntityManager): Promise<void> {
    await em.query(`create table if not exists users.users (
      id uuid primary key, name text not null, email text, disabled boolean not null, service_account boolean not null,
      otp_enabled boolean not null, has_picture boolean not null default false,
      created_at timestamptz not null, updated_at timestamptz not null, version integer not null)`);
    await em.query(`create index if not exists users_name_idx on users.users (lower(name))`);
    await em.query(`create index if not exists users_email_idx on users.users (lower(email))`);
    await em.query(`create table if not exists users.roles (
      id uuid primary key, name text not null, permissions jsonb not null, built_in boolean not null,
      created_at timestamptz not null, updated_at timestamptz not null, version integer not null)`);
    await em.query(`create table if not exists users.user_roles (user_id uuid not null, role_id uuid not null, primary key (user_id, role_id))`);
    await em.query(`create index if not exists user_roles_role_idx on users.user_roles (role_id)`);
    await em.query(`create table if not exists users.ssh_keys (
      id uuid primary key, user_id uuid not null, name text not null, algorithm text not null, fingerprint text not null,
      public_key text not null, created_at timestamptz not null)`);
    await em.query(`create index if not exists ssh_keys_user_idx on users.ssh_keys (user_id, created_at)`);
    // State, not projection: the bytes of profile pictures (too big for events; never truncated by a rebuild).
    await em.query(`create table if not exists users.pictures (
      user_id uuid primary key, content_type text not null, sha256 text not null, size integer not null, data bytea not null)`);
    // State, not projection: name reservations of the command path (RoleNameReservations), never
    // truncated by a rebuild. Filled once from the roles the read model holds when the table is new.
    const [{ missing }] = await em.query(`select to_regclass('users.name_reservations') is null as missing`);
    await em.query(`create table if not exists users.name_reservations (
      kind text not null, key text not null, owner_id uuid not null, reserved_at timestamptz not null default now(),
      primary key (kind, key))`);
    if (missing) {
      await em.query(
        `insert into users.name_reservations (kind, key, owner_id)
         select 'role', translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), id from users.roles on conflict do nothing`,
      );
    }
  }

  async apply(em: EntityManager, events: RecordedEvent[]): Promise<void> {
    for (const { event: e } of events) {
      const version = e.aggregateversion;
      const [aggregate, id] = e.subject.split('/');
      switch (e.type) {
        case UserCreated.type: {
          const d = e.data as EventData<typeof UserCreated>;
          await em.query(
            `insert into users.users (id, name, email, disabled, service_account, otp_enabled, created_at, updated_at, version)
             values ($1,$2,$3,$4,$5,$6,$7,$7,$8) on conflict (id) do nothing`,
            [d.userId, d.name, d.email, d.disabled, d.serviceAccount, d.otpEnabled, e.time, version],
          );
          await this.setRoles(em, d.userId, d.roleIds);
          break;
        }
        case UserUpdated.type: {
          const d = e.data as EventData<typeof UserUpdated>;
          await em.query(
            `update users.users set
               name = coalesce($2, name),
               email = case when $3::boolean then $4 else email end,
               disabled = coalesce($5, disabled),
               otp_enabled = coalesce($6, otp_enabled),
               has_picture = case when $7::boolean then $8 else has_picture end,
               updated_at = $9, version = $10
             where id = $1`,
            [d.userId, d.name ?? null, d.email !== undefined, d.email ?? null, d.disabled ?? null, d.otpEnabled ?? null, d.picture !== undefined, d.picture != null, e.time, version],
          );
          break;
        }
        case UserRoleAssigned.type: {
          const d = e.data as EventData<typeof UserRoleAssigned>;
          await this.setRoles(em, d.userId, d.roleIds);
          await em.query(`update users.users set updated_at = $2, version = $3 where id = $1`, [d.userId, e.time, version]);
          break;
        }
        case UserSshKeyAdded.type: {
          const d = e.data as EventData<typeof UserSshKeyAdded>;
          await em.query(
            `insert into users.ssh_keys (id, user_id, name, algorithm, fingerprint, public_key, created_at) values ($1,$2,$3,$4,$5,$6,$7) on conflict (id) do nothing`,
            [d.keyId, d.userId, d.name, d.algorithm, d.fingerprint, d.publicKey, e.time],
          );
          await em.query(`update users.users set updated_at = $2, version = $3 where id = $1`, [d.userId, e.time, version]);
          break;
        }
        case UserSshKeyRemoved.type: {
          const d = e.data as EventData<typeof UserSshKeyRemoved>;
          await em.query(`delete from users.ssh_keys where id = $1 and user_id = $2`, [d.keyId, d.userId]);
          await em.query(`update users.users set updated_at = $2, version = $3 where id = $1`, [d.userId, e.time, version]);
          break;
        }
        case UserDeleted.type: {
          const d = e.data as EventData<typeof UserDeleted>;
          await em.query(`delete from users.ssh_keys where user_id = $1`, [d.userId]);
          await em.query(`delete from users.user_roles where user_id = $1`, [d.userId]);
          await em.query(`delete from users.users where id = $1`, [d.userId]);
          break;
        }
        case RoleCreated.type: {
          const d = e.data as EventData<typeof RoleCreated>;
          await em.query(
            `insert into users.roles (id, name, permissions, built_in, created_at, updated_at, version)
             values ($1,$2,$3,$4,$5,$5,$6) on conflict (id) do nothing`,
            [d.roleId, d.name, JSON.stringify(d.permissions), d.builtIn, e.time, version],
          );
          break;
        }
        case RoleUpdated.type: {
          const d = e.data as EventData<typeof RoleUpdated>;
          await em.query(
            `update users.roles set name = coalesce($2, name), permissions = coalesce($3::jsonb, permissions), updated_at = $4, version = $5 where id = $1`,
            [d.roleId, d.name ?? null, d.permissions ? JSON.stringify(d.permissions) : null, e.time, version],
          );
          break;
        }
        case RoleDeleted.type: {
          const d = e.data as EventData<typeof RoleDeleted>;
          await em.query(`delete from users.user_roles where role_id = $1`, [d.roleId]);
          await em.query(`delete from users.roles where id = $1`, [d.roleId]);
          break;
        }
        default:
          // Other events of a user (logins recorded before they moved to evt.session) still move its version.
          if (aggregate === 'user') await em.query(`update users.users set version = $2 where id = $1`, [id, version]);
      }
    }
  }

  private async setRoles(em: EntityManager, userId: string, roleIds: string[]): Promise<void> {
    await em.query(`delete from users.user_roles where user_id = $1`, [userId]);
    if (roleIds.length) {
      await em.query(`insert into users.user_roles (user_id, role_id) select $1, unnest($2::uuid[]) on conflict do nothing`, [userId, roleIds]);
    }
  }
}
