import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import {
  catalogQuerySchema,
  NotFoundError,
  pluginDurableName,
  STREAMS,
  Subjects,
  text,
  type CatalogPluginView,
  type CatalogTemplateView,
  type InstalledPluginView,
  type PluginLogLine,
  type RepositoryView,
} from '@encedeus/contracts';
import { NATS_CONNECTION } from '@encedeus/messaging';
import { SCHEMA } from '../projections/plugins.projection';
import { PLUGINS_DB } from '../plugins.tokens';

const idSchema = z.object({ id: z.uuid() });
const templateQuerySchema = z.object({ q: text().max(200).optional(), category: text().max(64).optional(), tag: text().max(64).optional() });

/** `%` and `_` are literal in a search. */
const likePattern = (q: string) => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** Read side of the plugins service (schema `plugins`) plus each plugin's consumer lag from JetStream. */
@Controller()
export class PluginsQueries {
  constructor(
    @Inject(PLUGINS_DB) private readonly db: DataSource,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
  ) {}

  @MessagePattern(Subjects.command('plugins', 'catalog'))
  async catalog(@Payload() data: unknown): Promise<CatalogPluginView[]> {
    const q = catalogQuerySchema.parse(data ?? {});
    const rows = (await this.db.query(
      `select c.*, (select avg(rating)::float from ${SCHEMA}.ratings r where r.catalog_id = c.id) as avg_rating,
              (select count(*)::int from ${SCHEMA}.ratings r where r.catalog_id = c.id) as rating_count,
              (select count(*)::int from ${SCHEMA}.installed i where i.catalog_id = c.id) as install_count
         from ${SCHEMA}.catalog_plugins c
        where ($1::text is null or c.name ilike $1 or c.description ilike $1)
          and ($2::text is null or c.category = $2)
          and ($3::text is null or c.tags ? $3)
          and ($4::uuid is null or c.repository_id = $4)
        order by c.name, c.id limit 500`,
      [q.q ? likePattern(q.q) : null, q.category ?? null, q.tag ?? null, q.repository_id ?? null],
    )) as Record<string, any>[];
    return rows.map((r) => ({
      id: r.id,
      repository_id: r.repository_id,
      name: r.name,
      version: r.version,
      description: r.description,
      category: r.category,
      tags: r.tags,
      events: r.events,
      permissions: r.permissions,
      risk: r.risk,
      config_schema: r.config_schema,
      avg_rating: r.avg_rating === null ? null : Math.round(r.avg_rating * 100) / 100,
      rating_count: r.rating_count,
      install_count: r.install_count,
    }));
  }

  @MessagePattern(Subjects.command('plugins', 'installed'))
  async installed(): Promise<InstalledPluginView[]> {
    const rows = (await this.db.query(`select id from ${SCHEMA}.installed order by installed_at, id limit 1000`)) as { id: string }[];
    return Promise.all(rows.map((r) => this.installedView(r.id)));
  }

  @MessagePattern(Subjects.command('plugins', 'get_installed'))
  async getInstalled(@Payload() data: unknown): Promise<InstalledPluginView> {
    return this.installedView(idSchema.parse(data).id);
  }

  @MessagePattern(Subjects.command('plugins', 'logs'))
  async logs(@Payload() data: unknown): Promise<{ logs: PluginLogLine[]; dead_letters: { sequence: number; event_id: string; event_type: string; error: string; attempts: number; parked_at: string }[] }> {
    const { id, limit } = idSchema.extend({ limit: z.coerce.number().int().min(1).max(500).default(100) }).parse(data);
    await this.installedView(id);
    const logs = (await this.db.query(`select at, level, message from ${SCHEMA}.logs where plugin_id = $1 order by id desc limit $2`, [id, limit])) as { at: Date; level: PluginLogLine['level']; message: string }[];
    const dead = (await this.db.query(`select * from ${SCHEMA}.dead_letters where plugin_id = $1 order by sequence desc limit 100`, [id])) as Record<string, any>[];
    return {
      logs: logs.reverse().map((l) => ({ at: l.at.toISOString(), level: l.level, message: l.message })),
      dead_letters: dead.map((d) => ({ sequence: Number(d.sequence), event_id: d.event_id, event_type: d.event_type, error: d.error, attempts: d.attempts, parked_at: new Date(d.parked_at).toISOString() })),
    };
  }

  @MessagePattern(Subjects.command('plugins', 'repositories'))
  async repositories(): Promise<RepositoryView[]> {
    const rows = (await this.db.query(`select * from ${SCHEMA}.repositories order by created_at, id`)) as Record<string, any>[];
    return rows.map(repositoryOf);
  }

  @MessagePattern(Subjects.command('plugins', 'templates'))
  async templates(@Payload() data: unknown): Promise<CatalogTemplateView[]> {
    const q = templateQuerySchema.parse(data ?? {});
    const rows = (await this.db.query(
      `select * from ${SCHEMA}.catalog_templates
        where ($1::text is null or name ilike $1 or description ilike $1) and ($2::text is null or category = $2) and ($3::text is null or tags ? $3)
        order by name, id limit 500`,
      [q.q ? likePattern(q.q) : null, q.category ?? null, q.tag ?? null],
    )) as Record<string, any>[];
    return rows.map(templateOf);
  }

  @MessagePattern(Subjects.command('plugins', 'get_template'))
  async getTemplate(@Payload() data: unknown): Promise<CatalogTemplateView> {
    const { id } = idSchema.parse(data);
    const [row] = (await this.db.query(`select * from ${SCHEMA}.catalog_templates where id = $1`, [id])) as Record<string, any>[];
    if (!row) throw new NotFoundError('Catalog template', id);
    return templateOf(row);
  }

  async repositoryView(id: string): Promise<RepositoryView> {
    const [row] = (await this.db.query(`select * from ${SCHEMA}.repositories where id = $1`, [id])) as Record<string, any>[];
    if (!row) throw new NotFoundError('Repository', id);
    return repositoryOf(row);
  }

  async installedView(id: string): Promise<InstalledPluginView> {
    const [row] = (await this.db.query(
      `select i.*, s.last_error, (select count(*)::int from ${SCHEMA}.dead_letters d where d.plugin_id = i.id) as dead_letters
         from ${SCHEMA}.installed i left join ${SCHEMA}.runner_status s on s.plugin_id = i.id where i.id = $1`,
      [id],
    )) as Record<string, any>[];
    if (!row) throw new NotFoundError('Plugin', id);
    return {
      id: row.id,
      catalog_id: row.catalog_id,
      name: row.name,
      version: row.version,
      state: row.state,
      risk: row.risk,
      events: row.events,
      permissions: row.permissions,
      config: row.config,
      installed_by: row.installed_by,
      installed_at: new Date(row.installed_at).toISOString(),
      last_error: row.last_error ?? null,
      suspended_reason: row.suspended_reason ?? null,
      lag: await this.lag(id),
      dead_letters: row.dead_letters,
      version_number: row.version_number,
    };
  }

  /** Events of the plugin's filter not yet handled: pending in its durable plus the one in flight. */
  private async lag(id: string): Promise<number | null> {
    try {
      const jsm = await this.nc.jetstreamManager({ timeout: 2000 });
      const info = await jsm.consumers.info(STREAMS.events, pluginDurableName(id));
      return info.num_pending + info.num_ack_pending;
    } catch {
      return null;
    }
  }
}

function repositoryOf(r: Record<string, any>): RepositoryView {
  return {
    id: r.id,
    name: r.name,
    url: r.url,
    branch: r.branch,
    status: r.status,
    commit: r.commit,
    last_error: r.last_error,
    synced_at: r.synced_at ? new Date(r.synced_at).toISOString() : null,
    plugins: r.plugins,
    templates: r.templates,
  };
}

function templateOf(r: Record<string, any>): CatalogTemplateView {
  return { id: r.id, repository_id: r.repository_id, name: r.name, description: r.description, category: r.category, tags: r.tags, template: r.template };
}
