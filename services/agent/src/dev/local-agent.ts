import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { connect, credsAuthenticator } from 'nats';
import type { Enrollment } from '@encedeus/contracts';
import { CommandClient, inboxPrefixFromCreds } from '@encedeus/messaging';
import { parseAgentArgs } from '../config';
import { Agent } from '../agent';

/**
 * `npm run dev`'s local agent: when the data dir holds no identity yet, creates a node named after
 * this machine with the admin user (NATS_CREDS_DIR/admin.creds) and enrolls with its token; then
 * runs the agent as usual. Env: NATS_URL, NATS_CREDS_DIR (or DATA_DIR/nats/creds), AGENT_DATA_DIR.
 */
async function main(): Promise<void> {
  const config = parseAgentArgs(process.argv.slice(2));
  if (!existsSync(join(config.dataDir, 'identity.json')) && !config.token) {
    const credsDir = process.env.NATS_CREDS_DIR ?? join(resolve(process.env.DATA_DIR ?? '.data'), 'nats', 'creds');
    const admin = readFileSync(join(credsDir, 'admin.creds'), 'utf8');
    const nc = await connect({ servers: config.natsUrl, authenticator: credsAuthenticator(new TextEncoder().encode(admin)), inboxPrefix: inboxPrefixFromCreds(admin) });
    try {
      const os = await import('node:os');
      const node = await new CommandClient(nc, 30_000).send<{ id: string; enrollment: Enrollment }>(
        'nodes',
        'create_node',
        { name: `local-${os.hostname()}`.replace(/[^A-Za-z0-9 _.-]/g, '-').slice(0, 64), memory_mb: Math.floor(os.totalmem() / 1024 / 1024), cpu_percent: os.cpus().length * 100, storage_size: '50G', tags: ['local', 'dev'] },
        { actor: 'service:dev' },
      );
      config.token = node.enrollment.token;
      // The gateway may not be up yet: trade the token over NATS with the same tooling user.
      if (!config.gatewayUrl) config.bootstrapCreds = admin;
      console.log(`[agent] created local node ${node.id}`);
    } finally {
      await nc.close();
    }
  }
  const agent = new Agent(config);
  await agent.start();
  const shutdown = () => void agent.stop().finally(() => process.exit(0));
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

void main().catch((error) => {
  console.error(`[agent] ${(error as Error).message ?? error}`);
  process.exit(1);
});
