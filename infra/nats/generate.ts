// `npx ts-node -r tsconfig-paths/register infra/nats/generate.ts [dataDir] [port] [storeDir]`: writes
// the operator-mode trust chain and nats-server.conf (used by docker-compose, Kubernetes and by hand).
// Environment (docs/security.md#the-generated-server-config):
//   NATS_MONITOR_PORT  monitoring port (8222; 0 turns it off)   NATS_MONITOR_HOST  its address (127.0.0.1)
//   NATS_TLS_CERT / NATS_TLS_KEY  PEM files for client TLS       NATS_TLS_CA  CA to require client certificates
//   NATS_RESOLVER_DIR  where account JWT updates (revocations) are kept (<storeDir>/../jwt)
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { natsServerConfig, type NatsTlsOptions } from '@encedeus/messaging';
import { ensureNatsTrust } from './local-nats';

/** TLS options from the environment; undefined when neither file is named, an error when only one is. */
export function tlsFromEnv(env: NodeJS.ProcessEnv): NatsTlsOptions | undefined {
  const { NATS_TLS_CERT: certFile, NATS_TLS_KEY: keyFile, NATS_TLS_CA: caFile } = env;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new Error('infra/nats: NATS_TLS_CERT and NATS_TLS_KEY go together');
  return { certFile, keyFile, ...(caFile ? { caFile } : {}) };
}

async function main() {
  const dataDir = resolve(process.argv[2] ?? '.data');
  const port = Number(process.argv[3] ?? 4222);
  const storeDir = process.argv[4] ?? '/data/jetstream';
  const { bundle, dir } = await ensureNatsTrust(dataDir);
  const config = natsServerConfig(bundle, {
    host: '0.0.0.0',
    port,
    storeDir,
    httpPort: Number(process.env.NATS_MONITOR_PORT ?? 8222) || undefined,
    httpHost: process.env.NATS_MONITOR_HOST ?? '127.0.0.1',
    resolverDir: process.env.NATS_RESOLVER_DIR,
    tls: tlsFromEnv(process.env),
  });
  writeFileSync(join(dir, 'nats-server.conf'), config, { mode: 0o600 });
  console.log(`wrote ${dir}/nats-server.conf, operator.json, account-signer.json, account-admin.json and creds/*.creds`);
}

if (require.main === module) void main();
