import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { lockSchemaMigration } from '@encedeus/messaging';

/**
 * The auth schema: state tables, not projections. They hold the secrets that never go into events
 * (password hashes, refresh tokens, OTP codes, API-key hashes, signing keys, login failures), so a
 * projection rebuild never touches them (docs/identity.md).
 */
@Injectable()
export class AuthState implements OnModuleInit {
  constructor(readonly dataSource: DataSource) {}

  private migrated?: Promise<void>;

  onModuleInit(): Promise<void> {
    return this.ready();
  }

  /** Creates the tables once (idempotent DDL under an advisory lock, safe with several instances). */
  ready(): Promise<void> {
    this.migrated ??= this.migrate();
    return this.migrated;
  }

  private async migrate(): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      // The schema's one migration lock (the auth_user_credentials projector creates tables in it too).
      await lockSchemaMigration(em, 'auth');
      await em.query(`create schema if not exists auth`);
      await em.query(`create table if not exists auth.credentials (
        user_id uuid primary key, name text not null, email text, password_hash text, updated_at timestamptz not null default now())`);
      // Set by UserCredentialsProcessManager when user.created arrives (null: staged, or from before the column).
      await em.query(`alter table auth.credentials add column if not exists confirmed_at timestamptz`);
      // When the password was last set (rows from before the column: the migration's time). An SFTP
      // session that logged in by password ends once this moves (SftpLoginController).
      await em.query(`alter table auth.credentials add column if not exists password_changed_at timestamptz not null default now()`);
      await em.query(`create unique index if not exists credentials_name_uq on auth.credentials (lower(name))`);
      await em.query(`create unique index if not exists credentials_email_uq on auth.credentials (lower(email)) where email is not null`);
      await em.query(`create table if not exists auth.refresh_tokens (
        id uuid primary key, family_id uuid not null, user_id uuid not null, token_hash text not null unique,
        created_at timestamptz not null default now(), expires_at timestamptz not null, used_at timestamptz, revoked_at timestamptz)`);
      await em.query(`create index if not exists refresh_tokens_family_idx on auth.refresh_tokens (family_id)`);
      await em.query(`create index if not exists refresh_tokens_user_idx on auth.refresh_tokens (user_id)`);
      await em.query(`create table if not exists auth.otp_codes (
        id uuid primary key, purpose text not null, email text not null, code_hash text not null, attempts integer not null default 0,
        data jsonb not null default '{}', created_at timestamptz not null default now(), expires_at timestamptz not null, consumed_at timestamptz)`);
      await em.query(`create index if not exists otp_codes_lookup_idx on auth.otp_codes (purpose, email, created_at desc)`);
      await em.query(`create table if not exists auth.login_failures (key text not null, at timestamptz not null default now())`);
      await em.query(`create index if not exists login_failures_key_idx on auth.login_failures (key, at)`);
      // LoginRateLimiter: attempts per key in a window; `gate_at` delays an account's next attempt.
      await em.query(`create table if not exists auth.login_counters (
        key text primary key, window_start timestamptz not null, n integer not null, gate_at timestamptz)`);
      await em.query(`create table if not exists auth.api_keys (
        id uuid primary key, name text not null, prefix text not null, key_hash text not null unique, owner_id uuid not null,
        service_account_id uuid, permissions jsonb not null, expires_at timestamptz, created_at timestamptz not null default now(), revoked_at timestamptz)`);
      await em.query(`create index if not exists api_keys_owner_idx on auth.api_keys (owner_id)`);
      await em.query(`create table if not exists auth.signing_keys (
        kid text primary key, private_pem text not null, public_pem text not null, created_at timestamptz not null default now())`);
      await em.query(`create table if not exists auth.settings (key text primary key, value text not null)`);
    });
  }

  query<T = any>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.dataSource.query(sql, params);
  }
}
