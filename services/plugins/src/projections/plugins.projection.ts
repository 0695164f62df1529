import type { EntityManager } from 'typeorm';
import type { Projection } from '@encedeus/messaging';
import {
  PluginConfigChanged,
  PluginDisabled,
  PluginEnabled,
  PluginInstalled,
  PluginRated,
  PluginRepositoryAdded,
  PluginRepositoryRemoved,
  PluginRepositorySynced,
  PluginSuspended,
  PluginUninstalled,
  type CloudEvent,
  type RecordedEvent,
} from '@encedeus/contracts';

export const SCHEMA = 'plugins';

/**
 * Read model of the plugins service in schema `plugins`: repositories, installed plugins, ratings.
 * The catalog tables (what each repository's last sync found) and the runners' tables (logs, dead
 * letters, failure counts) live in the same schema but are written by the sync and the runners:
 * they are derived from Git and from running code, not from events, so a rebuild keeps them.
 */
export class PluginsProjection implements Projection {
  readonly name = 'plugins_read_model';
  // Every event, other aggregates ignored (as the files projection does): the checkpoint then follows
  // the whole stream, so waitFor(EventStore.lastSequence()) at boot and on taking the runners' lease
  // ends as soon as the plugin events are applied, instead of at its timeout.
  readonly filterSubject = 'evt.>';
  readonly schema = SCHEMA;
  readonly tables = [`${SCHEMA}.repositories`, `${SCHEMA}.installed`, `${SCHEMA}.ratings`];

  async migrate(em: EntityManager): Promise<void> {
    await em.query(`create table if not exists ${SCHEMA}.repositories (
      id uuid primary key, name text not null, url text not null, branch text not null, status text not null default 'pending',
      commit text, last_error text, synced_at timestamptz, plugins int not null default 0, templates int not null default 0,
      created_at timestamptz not null, created_by text not null)`);
    await em.query(`create table if not exists ${SCHEMA}.installed (
      id uuid primary key, catalog_id uuid not null, repository_id uuid not null, name text not null, version text not null,
      description text not null default '', state text not null, risk text not null, events jsonb not null, permissions jsonb not null,
      config jsonb not null, installed_by text not null, installed_at timestamptz not null, suspended_reason text,
      version_number int not null, updated_at timestamptz not null, installed_seq bigint not null)`);
    await em.query(`create table if not exists ${SCHEMA}.ratings (
      catalog_id uuid not null, user_id text not null, rating int not null, review text, at timestamptz not null, primary key (catalog_id, user_id))`);
    await em.query(`create table if not exists ${SCHEMA}.catalog_plugins (
      id uuid primary key, repository_id uuid not null, dir text not null, name text not null, version text not null,
      description text not null, category text, tags jsonb not null, events jsonb not null, permissions jsonb not null,
      risk text not null, config_schema jsonb, code text not null, sha256 text not null, commit text not null)`);
    await em.query(`create index if not exists catalog_plugins_repo_idx on ${SCHEMA}.catalog_plugins (repository_id)`);
    await em.query(`create table if not exists ${SCHEMA}.catalog_templates (
      id uuid primary key, repository_id uuid not null, dir text not null, name text not null, description text not null,
      category text, tags jsonb not null, template jsonb not null, commit text not null)`);
    await em.query(`create index if not exists catalog_templates_repo_idx on ${SCHEMA}.catalog_templates (repository_id)`);
    await em.query(`create table if not exists ${SCHEMA}.runner_status (
      plugin_id uuid primary key, last_error text, last_error_at timestamptz, consecutive_failures int not null default 0,
      delivered bigint not null default 0, last_sequence bigint not null default 0)`);
    await em.query(`create table if not exists ${SCHEMA}.dead_letters (
      plugin_id uuid not null, sequence bigint not null, event_id text not null, event_type text not null, error text not null,
      attempts int not null, parked_at timestamptz not null default now(), primary key (plugin_id, sequence))`);
    await em.query(`create table if not exists ${SCHEMA}.logs (
      id bigserial primary key, plugin_id uuid not null, at timestamptz not null default now(), level text not null, message text not null)`);
    await em.query(`create index if not exists logs_plugin_idx on ${SCHEMA}.logs (plugin_id, id)`);
  }

  async apply(em: EntityManager, events: RecordedEvent[]): Promise<void> {
    for (const { event, sequence } of events) await this.one(em, event, sequence);
  }

  private async one(em: EntityManager, e: CloudEvent, sequence: number): Promise<void> {
    if (!e.type.startsWith('plugin.')) return;
    const id = e.subject.split('/')[1];
    const d = e.data as Record<string, any>;
    switch (e.type) {
      case PluginRepositoryAdded.type:
        await em.query(
          `insert into ${SCHEMA}.repositories (id, name, url, branch, created_at, created_by) values ($1,$2,$3,$4,$5,$6) on conflict (id) do nothing`,
          [id, d.name, d.url, d.branch, e.time, e.actor],
        );
        return;
      case PluginRepositorySynced.type:
        await em.query(
          `update ${SCHEMA}.repositories set status = $2, commit = coalesce($3, commit), last_error = $4, synced_at = $5,
             plugins = case when $4::text is null then $6 else plugins end, templates = case when $4::text is null then $7 else templates end where id = $1`,
          [id, d.error ? 'failed' : 'synced', d.commit, d.error, e.time, d.plugins, d.templates],
        );
        return;
      case PluginRepositoryRemoved.type:
        await em.query(`delete from ${SCHEMA}.repositories where id = $1`, [id]);
        await em.query(`delete from ${SCHEMA}.catalog_plugins where repository_id = $1`, [id]);
        await em.query(`delete from ${SCHEMA}.catalog_templates where repository_id = $1`, [id]);
        return;
      case PluginInstalled.type:
        await em.query(
          `insert into ${SCHEMA}.installed (id, catalog_id, repository_id, name, version, description, state, risk, events, permissions, config,
             installed_by, installed_at, version_number, updated_at, installed_seq)
           values ($1,$2,$3,$4,$5,$6,'disabled',$7,$8,$9,$10,$11,$12,$13,$12,$14) on conflict (id) do nothing`,
          [id, d.catalog_id, d.repository_id, d.name, d.version, d.description, d.risk, JSON.stringify(d.events), JSON.stringify(d.permissions), JSON.stringify(d.config), e.actor, e.time, e.aggregateversion, sequence],
        );
        return;
      case PluginEnabled.type:
        await this.update(em, id, e, `state = 'enabled', suspended_reason = null`);
        await em.query(`update ${SCHEMA}.runner_status set consecutive_failures = 0 where plugin_id = $1`, [id]);
        return;
      case PluginDisabled.type:
        await this.update(em, id, e, `state = 'disabled'`);
        return;
      case PluginSuspended.type:
        await this.update(em, id, e, `state = 'suspended', suspended_reason = $3`, [d.reason]);
        return;
      case PluginConfigChanged.type:
        await this.update(em, id, e, `config = $3`, [JSON.stringify(d.config)]);
        return;
      case PluginRated.type:
        await em.query(
          `insert into ${SCHEMA}.ratings (catalog_id, user_id, rating, review, at) values ($1,$2,$3,$4,$5)
           on conflict (catalog_id, user_id) do update set rating = excluded.rating, review = excluded.review, at = excluded.at`,
          [d.catalog_id, d.user_id, d.rating, d.review, e.time],
        );
        await this.update(em, id, e, '');
        return;
      case PluginUninstalled.type:
        await em.query(`delete from ${SCHEMA}.installed where id = $1`, [id]);
        for (const table of ['logs', 'dead_letters', 'runner_status']) await em.query(`delete from ${SCHEMA}.${table} where plugin_id = $1`, [id]);
        return;
    }
  }

  private async update(em: EntityManager, id: string, e: CloudEvent, set: string, params: unknown[] = []): Promise<void> {
    await em.query(`update ${SCHEMA}.installed set ${set ? `${set}, ` : ''}version_number = $2, updated_at = now() where id = $1`, [id, e.aggregateversion, ...params]);
  }
}
