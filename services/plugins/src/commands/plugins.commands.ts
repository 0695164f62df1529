import { Controller, Inject, Logger } from '@nestjs/common';
import { Ctx, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import type { NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import {
  addRepositorySchema,
  ALL_PERMISSIONS,
  installPluginSchema,
  NotFoundError,
  pluginConfigSchema,
  ratePluginSchema,
  Subjects,
  text,
  ValidationError,
  type InstalledPluginView,
  type RepositoryView,
} from '@encedeus/contracts';
import { CommandHandler, EventStore, metaFromHeaders, NATS_CONNECTION, newAggregateId, Projector, type CommandMeta, type Handled } from '@encedeus/messaging';
import { pluginDecider, type InstalledPlugin, type InstallFrom, type PluginCommand } from '../domain/plugin.decider';
import { repositoryDecider } from '../domain/repository.decider';
import { CatalogSync } from '../catalog/catalog-sync';
import { GitRepositories } from '../git/git-repository';
import { RepositoryUrlError } from '../git/repository-url';
import { SCHEMA } from '../projections/plugins.projection';
import { PLUGINS_DB } from '../plugins.tokens';
import { PluginsQueries } from '../queries/plugins.queries';
import { deletePluginConsumer, ensurePluginConsumer } from '../delivery/plugin-runner';
import { purgePluginKv } from '../delivery/capabilities';
import { validatePluginConfigBounded } from '../domain/config-validation';
import { HookError, PluginHooks, type HookedPlugin, type LifecycleHook, type LogLine } from '../delivery/lifecycle-hooks';

const idSchema = z.object({ id: z.uuid() });
/** What the gateway adds to an install: the installer's effective permissions (approval of a high-risk plugin). */
const installCommandSchema = installPluginSchema.extend({ installer_permissions: z.array(text()).max(200).default([]) });

function commandMeta(ctx: NatsContext): CommandMeta {
  return metaFromHeaders(ctx.getHeaders?.());
}

/** Waits (bounded) until the read model applied a command's events, so the reply and the next query see them. */
async function visible<S>(projector: Projector, handled: Handled<S>): Promise<Handled<S>> {
  if (handled.events.length > 0) await projector.waitFor(handled.revision.sequence, 5000);
  return handled;
}

/**
 * Commands of the plugins service (`cmd.plugins.<verb>`): repositories (add, sync, remove, the
 * webhook's sync by URL) and installed plugins (install, enable, disable, configure, rate,
 * uninstall). Thin: validate, kernel, reply from the read model.
 */
@Controller()
export class PluginsCommands {
  private readonly logger = new Logger('PluginsCommands');

  constructor(
    @Inject(CommandHandler) private readonly kernel: CommandHandler,
    @Inject(Projector) private readonly projector: Projector,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(PLUGINS_DB) private readonly db: DataSource,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(CatalogSync) private readonly sync: CatalogSync,
    @Inject(GitRepositories) private readonly git: GitRepositories,
    @Inject(PluginsQueries) private readonly queries: PluginsQueries,
    @Inject(PluginHooks) private readonly hooks: PluginHooks,
  ) {}

  /** Adds a repository and syncs it at once (a failed fetch leaves it `failed` with the error, not a failed request). */
  @MessagePattern(Subjects.command('plugins', 'add_repository'))
  async addRepository(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<RepositoryView> {
    const body = addRepositorySchema.parse(data);
    await this.git.checkUrl(body.url).catch((error: unknown) => {
      if (error instanceof RepositoryUrlError) throw new ValidationError(`The repository URL is refused: ${error.message}`, [{ path: 'url', message: error.message }]);
      throw error;
    });
    const meta = commandMeta(ctx);
    const id = newAggregateId('plugins.add_repository', meta);
    await visible(this.projector, await this.kernel.handle('plugin', id, repositoryDecider, { type: 'add', ...body }, meta));
    await this.sync.sync(id);
    await this.projector.waitFor(await this.lastOf(id), 5000);
    return this.queries.repositoryView(id);
  }

  @MessagePattern(Subjects.command('plugins', 'sync_repository'))
  async syncRepository(@Payload() data: unknown): Promise<RepositoryView> {
    const { id } = idSchema.parse(data);
    await this.sync.sync(id);
    await this.projector.waitFor(await this.lastOf(id), 5000);
    return this.queries.repositoryView(id);
  }

  /** The webhook: syncs every repository with this URL (and branch, when given). */
  @MessagePattern(Subjects.command('plugins', 'sync_by_url'))
  async syncByUrl(@Payload() data: unknown): Promise<{ synced: RepositoryView[] }> {
    const { url, branch } = z.object({ url: text().max(2000), branch: text().max(200).optional() }).parse(data);
    const rows = (await this.db.query(`select id from ${SCHEMA}.repositories where url = $1 and ($2::text is null or branch = $2)`, [url, branch ?? null])) as { id: string }[];
    const synced: RepositoryView[] = [];
    for (const { id } of rows) {
      await this.sync.sync(id);
      await this.projector.waitFor(await this.lastOf(id), 5000);
      synced.push(await this.queries.repositoryView(id));
    }
    return { synced };
  }

  @MessagePattern(Subjects.command('plugins', 'remove_repository'))
  async removeRepository(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ removed: true }> {
    const { id } = idSchema.parse(data);
    await visible(this.projector, await this.kernel.handle('plugin', id, repositoryDecider, { type: 'remove' }, commandMeta(ctx)));
    await this.git.remove(id);
    return { removed: true };
  }

  /**
   * Installs a catalog plugin: config validated against its config_schema (422 with the fields), a
   * high-risk plugin only with `approve: true` from an administrator. Its durable consumer is
   * created right after plugin.installed, so it receives every event appended from then on.
   */
  @MessagePattern(Subjects.command('plugins', 'install'))
  async install(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<InstalledPluginView> {
    const body = installCommandSchema.parse(data);
    const meta = commandMeta(ctx);
    const [row] = (await this.db.query(`select * from ${SCHEMA}.catalog_plugins where id = $1`, [body.catalog_id])) as CatalogRow[];
    if (!row) throw new NotFoundError('Catalog plugin', body.catalog_id);
    const from: InstallFrom = {
      catalog_id: row.id,
      repository_id: row.repository_id,
      commit: row.commit,
      name: row.name,
      version: row.version,
      description: row.description,
      events: row.events,
      permissions: row.permissions,
      config_schema: row.config_schema ?? null,
      code: row.code,
      sha256: row.sha256,
    };
    // Bounded in time before the decider runs the same schema on the service's thread.
    await validatePluginConfigBounded(from.config_schema, body.config ?? {});
    const held = new Set(body.installer_permissions);
    const isAdmin = ALL_PERMISSIONS.every((p) => held.has(p));
    const id = newAggregateId('plugins.install', meta);
    const command: PluginCommand = { type: 'install', from, config: body.config, actor: meta.actor, approve: body.approve === true, isAdmin };
    // onInstall and onEnable run before anything is recorded, and only once the decider would take
    // the install (an unapproved high-risk plugin's code never runs); a retried install skips them.
    const { state, revision } = await this.store.load('plugin', id, pluginDecider);
    let hookLogs: LogLine[] = [];
    if (!state.installed) {
      pluginDecider.decide(command, state, revision);
      hookLogs = await this.lifecycle({ id, name: row.name, version: row.version, permissions: row.permissions, config: body.config ?? {}, code: row.code }, ['onInstall', 'onEnable'], 'install');
    }
    const handled = await this.kernel.handle('plugin', id, pluginDecider, command, meta);
    const installed = handled.events.find((e) => e.event.type === 'plugin.installed');
    if (installed) {
      await ensurePluginConsumer(this.nc, { id, events: row.events, installedSequence: installed.sequence });
      await this.hooks.persist(id, hookLogs).catch((error: Error) => this.logger.warn(`hook logs of ${id} not written: ${error.message}`));
    }
    await visible(this.projector, handled);
    return this.queries.installedView(id);
  }

  @MessagePattern(Subjects.command('plugins', 'enable'))
  async enable(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<InstalledPluginView> {
    return this.simple(data, ctx, { type: 'enable' });
  }

  @MessagePattern(Subjects.command('plugins', 'disable'))
  async disable(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<InstalledPluginView> {
    return this.simple(data, ctx, { type: 'disable' });
  }

  @MessagePattern(Subjects.command('plugins', 'configure'))
  async configure(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<InstalledPluginView> {
    const { id, config } = pluginConfigSchema.extend({ id: z.uuid() }).parse(data);
    const { state } = await this.store.load('plugin', id, pluginDecider);
    if (state.installed && !state.uninstalled) await validatePluginConfigBounded(state.configSchema, config);
    await visible(this.projector, await this.kernel.handle('plugin', id, pluginDecider, { type: 'configure', config }, commandMeta(ctx)));
    return this.queries.installedView(id);
  }

  @MessagePattern(Subjects.command('plugins', 'rate'))
  async rate(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<InstalledPluginView> {
    const { id, user_id: userId, rating, review } = ratePluginSchema.extend({ id: z.uuid(), user_id: text().min(1).max(100) }).parse(data);
    await visible(this.projector, await this.kernel.handle('plugin', id, pluginDecider, { type: 'rate', userId, rating, review: review ?? null }, commandMeta(ctx)));
    return this.queries.installedView(id);
  }

  /** Uninstalls: plugin.uninstalled, then its consumer and KV keys go (the runner host does the same when it sees the event). */
  @MessagePattern(Subjects.command('plugins', 'uninstall'))
  async uninstall(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ uninstalled: true }> {
    const { id } = idSchema.parse(data);
    await visible(this.projector, await this.kernel.handle('plugin', id, pluginDecider, { type: 'uninstall' }, commandMeta(ctx)));
    await deletePluginConsumer(this.nc, id);
    await purgePluginKv(this.nc, id).catch(() => undefined);
    return { uninstalled: true };
  }

  /**
   * Enable runs onEnable first: a hook that fails refuses the enable (422), nothing recorded.
   * Disable runs onDisable first: a hook that fails is logged, and the plugin is disabled anyway.
   */
  private async simple(data: unknown, ctx: NatsContext, command: { type: 'enable' } | { type: 'disable' }): Promise<InstalledPluginView> {
    const { id } = idSchema.parse(data);
    const { state } = await this.store.load('plugin', id, pluginDecider);
    const changes = state.installed && !state.uninstalled && (command.type === 'enable' ? state.state !== 'enabled' : state.state !== 'disabled');
    if (changes) {
      const plugin = this.hooked(id, state);
      if (command.type === 'enable') await this.hooks.persist(id, await this.lifecycle(plugin, ['onEnable'], 'enable'));
      else {
        const logs = await this.hooks.run(plugin, ['onDisable']).catch((error: unknown) => {
          if (!(error instanceof HookError)) throw error;
          this.logger.warn(`plugin ${state.name} (${id}): ${error.message}; disabled anyway`);
          return [...error.logs, { level: 'error' as const, message: `${error.message}; the plugin is disabled anyway` }];
        });
        await this.hooks.persist(id, logs).catch((error: Error) => this.logger.warn(`hook logs of ${id} not written: ${error.message}`));
      }
    }
    await visible(this.projector, await this.kernel.handle('plugin', id, pluginDecider, command, commandMeta(ctx)));
    return this.queries.installedView(id);
  }

  private hooked(id: string, state: InstalledPlugin): HookedPlugin {
    return { id, name: state.name, permissions: state.permissions, config: state.config, code: state.code };
  }

  /**
   * Runs lifecycle hooks that must pass: a failure is a 422 naming the hook and the plugin's error,
   * and whatever the hook wrote to its KV keys is purged (an install leaves nothing behind).
   */
  private async lifecycle(plugin: HookedPlugin, hooks: LifecycleHook[], action: 'install' | 'enable'): Promise<LogLine[]> {
    try {
      return await this.hooks.run(plugin, hooks);
    } catch (error) {
      if (!(error instanceof HookError)) throw error;
      if (action === 'install' && plugin.permissions.includes('kv')) {
        await purgePluginKv(this.nc, plugin.id).catch((e: Error) => this.logger.warn(`kv of ${plugin.id} not purged: ${e.message}`));
      }
      throw new ValidationError(`The plugin's ${error.hook} hook failed, so it was not ${action === 'install' ? 'installed' : 'enabled'}: ${error.reason}`, [
        { path: error.hook, message: error.reason.slice(0, 500) },
      ]);
    }
  }

  private async lastOf(id: string): Promise<number> {
    return (await this.store.currentRevision(Subjects.event('plugin', id))).sequence;
  }
}

interface CatalogRow {
  id: string;
  repository_id: string;
  commit: string;
  name: string;
  version: string;
  description: string;
  events: string[];
  permissions: string[];
  config_schema: unknown;
  code: string;
  sha256: string;
}
