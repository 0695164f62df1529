import { existsSync, readFileSync } from 'node:fs';
import { loadConfig, readServiceCreds, startServiceApp, type AccountSigner } from '@encedeus/messaging';
import { NodesModule } from './nodes.module';

async function main(): Promise<void> {
  const config = await loadConfig();
  if (!existsSync(config.nats.signerFile)) throw new Error(`nodes: account signer not found at ${config.nats.signerFile} (NATS_SIGNER_FILE); run npm run dev or infra/nats generate`);
  const signer = JSON.parse(readFileSync(config.nats.signerFile, 'utf8')) as AccountSigner;
  const creds = readServiceCreds(config, 'nodes');
  await startServiceApp(
    'nodes',
    NodesModule.forRoot({
      nats: { servers: config.nats.url, creds },
      databaseUrl: config.databaseUrl,
      signer,
      publicNatsUrl: process.env.AGENT_NATS_URL ?? config.nats.url,
      ...(process.env.ENCEDEUS_PUBLIC_URL ? { publicGatewayUrl: process.env.ENCEDEUS_PUBLIC_URL } : {}),
      ...(process.env.AGENT_CREDS_TTL_S ? { agentCredsTtlS: positiveInt('AGENT_CREDS_TTL_S', process.env.AGENT_CREDS_TTL_S) } : {}),
      ...(process.env.NODES_INSTALL_DEADLINE_S ? { installDeadlineS: positiveInt('NODES_INSTALL_DEADLINE_S', process.env.NODES_INSTALL_DEADLINE_S) } : {}),
    }),
    { servers: config.nats.url, creds },
  );
}

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 60) throw new Error(`nodes: ${name} must be a whole number of seconds, at least 60 (got ${JSON.stringify(value)})`);
  return n;
}

void main().catch((error) => {
  console.error(error);
  process.exit(1);
});
