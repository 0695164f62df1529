import { Inject, Module, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { CommandClient, CommandHandler, EventStore, healthControllerFor, MessagingModule, NATS_CONNECTION, Projector } from '@encedeus/messaging';
import { CatalogSync } from './catalog/catalog-sync';
import { PluginsCommands } from './commands/plugins.commands';
import { PluginHost } from './delivery/plugin-host';
import { PluginHooks } from './delivery/lifecycle-hooks';
import { GitRepositories } from './git/git-repository';
import type { PluginsModuleOptions } from './plugins.options';
import { PLUGINS_DB, PLUGINS_OPTIONS } from './plugins.tokens';
import { PluginsProjection } from './projections/plugins.projection';
import { PluginsQueries } from './queries/plugins.queries';

export type { PluginsModuleOptions } from './plugins.options';

/** Starts and stops the projector, the scheduled sync and the plugin runners. */
class PluginsLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(PLUGINS_DB) private readonly db: DataSource,
    @Inject(Projector) private readonly projector: Projector,
    @Inject(CatalogSync) private readonly sync: CatalogSync,
    @Inject(PluginHost) private readonly host: PluginHost,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.projector.start();
    await this.projector.waitFor(await this.store.lastSequence(), 60_000);
    await this.sync.start();
    await this.host.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.host.stop();
    await this.sync.stop();
    await this.projector.stop();
    if (this.db.isInitialized) await this.db.destroy();
  }
}

/** The plugins service: Git catalogs of plugins and templates, sandboxed plugins reacting to events (issue 13, docs/plugins.md). */
@Module({})
export class PluginsModule {
  static forRoot(options: PluginsModuleOptions): DynamicModule {
    return {
      module: PluginsModule,
      imports: [MessagingModule.forRoot({ service: 'plugins', nats: options.nats })],
      controllers: [PluginsCommands, PluginsQueries, healthControllerFor('plugins')],
      providers: [
        { provide: PLUGINS_OPTIONS, useValue: options },
        {
          provide: PLUGINS_DB,
          useFactory: () => new DataSource({ type: 'postgres', url: options.databaseUrl, uuidExtension: 'pgcrypto', extra: { max: 10 } }).initialize(),
        },
        { provide: GitRepositories, useFactory: () => new GitRepositories(options.dataDir, options.git) },
        { provide: CommandHandler, useFactory: (store: EventStore) => new CommandHandler(store), inject: [EventStore] },
        { provide: Projector, useFactory: (nc: NatsConnection, db: DataSource) => new Projector(nc, db, new PluginsProjection(), { batchSize: 500 }), inject: [NATS_CONNECTION, PLUGINS_DB] },
        {
          provide: CatalogSync,
          useFactory: (nc: NatsConnection, db: DataSource, store: EventStore, kernel: CommandHandler, git: GitRepositories) => new CatalogSync(nc, db, store, kernel, git, options.sync),
          inject: [NATS_CONNECTION, PLUGINS_DB, EventStore, CommandHandler, GitRepositories],
        },
        {
          provide: PluginHost,
          useFactory: (nc: NatsConnection, db: DataSource, store: EventStore, kernel: CommandHandler, commands: CommandClient, projector: Projector) =>
            new PluginHost(nc, db, store, kernel, commands, projector, options.delivery),
          inject: [NATS_CONNECTION, PLUGINS_DB, EventStore, CommandHandler, CommandClient, Projector],
        },
        {
          provide: PluginHooks,
          useFactory: (nc: NatsConnection, commands: CommandClient, db: DataSource) =>
            new PluginHooks(nc, commands, db, { sandbox: options.delivery?.sandbox, httpTimeoutMs: options.delivery?.httpTimeoutMs }),
          inject: [NATS_CONNECTION, CommandClient, PLUGINS_DB],
        },
        PluginsQueries,
        PluginsLifecycle,
      ],
    };
  }
}
