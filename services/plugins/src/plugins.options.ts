import type { NatsConnectionOptions } from '@encedeus/messaging';
import type { CatalogSyncOptions } from './catalog/catalog-sync';
import type { PluginHostOptions } from './delivery/plugin-host';
import type { GitLimits } from './git/git-repository';

/** Options of the plugins service (PluginsModule.forRoot). */
export interface PluginsModuleOptions {
  nats: Omit<NatsConnectionOptions, 'name'>;
  databaseUrl: string;
  /** Where the bare copies of the repositories are kept (main.ts: PLUGINS_DATA_DIR, else `$DATA_DIR/plugins`). */
  dataDir: string;
  /** Limits of git fetches. */
  git?: GitLimits;
  /** Scheduled sync of every repository. */
  sync?: CatalogSyncOptions;
  /** Delivery to plugins: attempts, suspension, sandbox limits, the runners' lease. */
  delivery?: PluginHostOptions;
}
