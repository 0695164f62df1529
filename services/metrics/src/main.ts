import { loadConfig, readServiceCreds, startServiceApp } from '@encedeus/messaging';
import { MetricsModule } from './metrics.module';

async function main(): Promise<void> {
  const config = await loadConfig();
  const creds = readServiceCreds(config, 'metrics');
  await startServiceApp('metrics', MetricsModule.forRoot({ nats: { servers: config.nats.url, creds }, databaseUrl: config.databaseUrl }), { servers: config.nats.url, creds });
}

void main().catch((error) => {
  console.error(error);
  process.exit(1);
});
