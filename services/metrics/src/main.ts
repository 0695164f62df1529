import { loadConfig, readServiceCreds, startServiceApp } from '@encedeus/messaging';
import { MetricsModule } from './metrics.module';

async function main(): Promise<void> {
  const config = await loadConfig();
  const creds = readServiceCreds(config, 'metrics');
  const timeout = process.env.METRICS_AGENT_TIMEOUT_S;
  if (timeout !== undefined && !(Number.isInteger(Number(timeout)) && Number(timeout) >= 1)) {
    throw new Error(`metrics: METRICS_AGENT_TIMEOUT_S must be a whole number of seconds, at least 1 (got ${JSON.stringify(timeout)})`);
  }
  await startServiceApp(
    'metrics',
    MetricsModule.forRoot({ nats: { servers: config.nats.url, creds }, databaseUrl: config.databaseUrl, ...(timeout !== undefined ? { agentTimeoutS: Number(timeout) } : {}) }),
    { servers: config.nats.url, creds },
  );
}

void main().catch((error) => {
  console.error(error);
  process.exit(1);
});
