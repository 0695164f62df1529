import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, readServiceCreds, startServiceApp } from '@encedeus/messaging';
import { PluginsModule } from './plugins.module';

async function main(): Promise<void> {
  const config = await loadConfig();
  const creds = readServiceCreds(config, 'plugins');
  await startServiceApp(
    'plugins',
    PluginsModule.forRoot({
      nats: { servers: config.nats.url, creds },
      databaseUrl: config.databaseUrl,
      dataDir: process.env.PLUGINS_DATA_DIR || join(process.env.DATA_DIR || tmpdir(), 'plugins'),
      ...(process.env.PLUGINS_SYNC_SCHEDULE ? { sync: { schedule: process.env.PLUGINS_SYNC_SCHEDULE } } : {}),
      // Local repositories (file://, paths, plain http) for a development stack only: `npm run dev` sets it.
      ...(process.env.PLUGINS_ALLOW_LOCAL_REPOSITORIES === '1' ? { git: { allowLocalRepositories: true } } : {}),
    }),
    { servers: config.nats.url, creds },
  );
}

void main().catch((error) => {
  console.error(error);
  process.exit(1);
});
