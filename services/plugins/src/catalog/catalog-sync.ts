import { Logger } from '@nestjs/common';
import { Cron } from 'croner';
import type { NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { NotFoundError, pluginRisk } from '@encedeus/contracts';
import { CommandHandler, EventStore, KeyedMutex, Lease } from '@encedeus/messaging';
import { repositoryDecider, type PluginRepository } from '../domain/repository.decider';
import { catalogId, GitRepositories, type RepositoryContents } from '../git/git-repository';
import { SCHEMA } from '../projections/plugins.projection';

export interface CatalogSyncOptions {
  /** When the lease holder syncs every repository (croner pattern; 6 fields = with seconds). @default every 15 min */
  schedule?: string;
  /** The `repository-sync` lease. @default { ttlMs: 5000 } */
  lease?: { ttlMs?: number; renewMs?: number };
}

export interface SyncOutcome {
  commit: string | null;
  plugins: number;
  templates: number;
  error: string | null;
  skipped: string[];
}

/**
 * Keeps the catalog in line with the repositories: fetches one with the `git` binary, replaces its
 * rows in `catalog_plugins` / `catalog_templates` (derived data: what the commit holds) and records
 * plugin.repository_synced when the commit or the error changed. One sync per repository at a time
 * in this process; the scheduled sync of every repository runs on the lease holder only.
 */
export class CatalogSync {
  private readonly logger = new Logger('CatalogSync');
  private readonly locks = new KeyedMutex();
  private readonly lease: Lease;
  private cron?: Cron;

  constructor(
    nc: NatsConnection,
    private readonly db: DataSource,
    private readonly store: EventStore,
    private readonly kernel: CommandHandler,
    private readonly git: GitRepositories,
    private readonly options: CatalogSyncOptions = {},
  ) {
    this.lease = new Lease(nc, { service: 'plugins', name: 'repository-sync', ttlMs: options.lease?.ttlMs ?? 5000, renewMs: options.lease?.renewMs });
  }

  async start(): Promise<void> {
    await this.lease.start();
    this.cron = new Cron(this.options.schedule ?? '*/15 * * * *', { protect: true, catch: true }, () => this.syncAll());
  }

  async stop(): Promise<void> {
    this.cron?.stop();
    await this.lease.stop();
  }

  /** Syncs every repository, if this replica holds the lease. */
  async syncAll(): Promise<void> {
    if (!this.lease.isHeld()) return;
    const rows = (await this.db.query(`select id from ${SCHEMA}.repositories order by created_at`)) as { id: string }[];
    for (const { id } of rows) {
      await this.sync(id).catch((error: Error) => this.logger.warn(`sync of ${id}: ${error.message}`));
    }
  }

  /** Fetches one repository and replaces its catalog entries. A failed fetch is recorded (status failed, last error), not thrown. */
  sync(id: string): Promise<SyncOutcome> {
    return this.locks.run(id, async () => {
      const { state } = await this.store.load('plugin', id, repositoryDecider);
      if (!state.added || state.removed) throw new NotFoundError('Repository', id);
      let outcome: SyncOutcome;
      try {
        const contents = await this.git.sync(id, state.url, state.branch);
        await this.replaceCatalog(id, contents);
        outcome = { commit: contents.commit, plugins: contents.plugins.length, templates: contents.templates.length, error: null, skipped: contents.skipped };
      } catch (error) {
        outcome = { commit: null, plugins: 0, templates: 0, error: (error as Error).message.slice(0, 1000), skipped: [] };
      }
      await this.record(id, state, outcome);
      return outcome;
    });
  }

  private async record(id: string, state: PluginRepository, outcome: SyncOutcome): Promise<void> {
    await this.kernel.handle('plugin', id, repositoryDecider, { type: 'record_sync', ...outcome }, { actor: 'service:plugins' }, { conflictRetries: 3 });
    // Counts change with no new commit only when the reader's rules did; keep the row honest anyway.
    if (outcome.error === null && outcome.commit === state.commit) {
      await this.db.query(`update ${SCHEMA}.repositories set plugins = $2, templates = $3, synced_at = now() where id = $1`, [id, outcome.plugins, outcome.templates]);
    }
  }

  private async replaceCatalog(repositoryId: string, contents: RepositoryContents): Promise<void> {
    await this.db.transaction(async (em) => {
      await em.query(`delete from ${SCHEMA}.catalog_plugins where repository_id = $1`, [repositoryId]);
      await em.query(`delete from ${SCHEMA}.catalog_templates where repository_id = $1`, [repositoryId]);
      for (const p of contents.plugins) {
        const m = p.manifest;
        await em.query(
          `insert into ${SCHEMA}.catalog_plugins (id, repository_id, dir, name, version, description, category, tags, events, permissions, risk, config_schema, code, sha256, commit)
           values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`,
          [
            catalogId(repositoryId, 'plugin', p.dir),
            repositoryId,
            p.dir,
            m.name,
            m.version,
            m.description,
            m.category ?? null,
            JSON.stringify(m.tags ?? []),
            JSON.stringify(m.events),
            JSON.stringify(m.permissions),
            pluginRisk(m.permissions),
            m.config_schema === undefined ? null : JSON.stringify(m.config_schema),
            p.code,
            p.sha256,
            contents.commit,
          ],
        );
      }
      for (const t of contents.templates) {
        await em.query(
          `insert into ${SCHEMA}.catalog_templates (id, repository_id, dir, name, description, category, tags, template, commit) values ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
          [catalogId(repositoryId, 'template', t.dir), repositoryId, t.dir, t.name, t.description, t.category, JSON.stringify(t.tags), JSON.stringify(t.template), contents.commit],
        );
      }
    });
  }
}
