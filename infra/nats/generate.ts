// `npx ts-node -r tsconfig-paths/register infra/nats/generate.ts [dataDir] [port]`: writes the
// operator-mode trust chain and nats-server.conf (used by docker-compose and by hand).
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { natsServerConfig } from '@encedeus/messaging';
import { ensureNatsTrust } from './local-nats';

async function main() {
  const dataDir = resolve(process.argv[2] ?? '.data');
  const port = Number(process.argv[3] ?? 4222);
  const storeDir = process.argv[4] ?? '/data/jetstream';
  const { bundle, dir } = await ensureNatsTrust(dataDir);
  writeFileSync(join(dir, 'nats-server.conf'), natsServerConfig(bundle, { host: '0.0.0.0', port, storeDir, httpPort: 8222 }), { mode: 0o600 });
  console.log(`wrote ${dir}/nats-server.conf, operator.json, account-signer.json and creds/*.creds`);
}

void main();
