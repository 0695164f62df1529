import { parseAgentArgs, type AgentConfig } from './config';
import { Agent } from './agent';
import { enroll, readIdentity, secureDataDir } from './enrollment/identity';
import { AGENT_VERSION } from './version';

/**
 * `npm run agent -- --nats <url> --token <enrollment token> [--data-dir .data/agent]`
 * (or NATS_URL, ENCEDEUS_ENROLL_TOKEN, AGENT_DATA_DIR). The token is needed once; afterwards the
 * agent reconnects with the credentials stored in its data dir.
 */
async function main(): Promise<void> {
  const config = parseAgentArgs(process.argv.slice(2));
  if (config.enrollOnly) return enrollOnly(config);
  const agent = new Agent(config);
  await agent.start();
  void agent.revoked.then(() => process.exit(0));
  const shutdown = () => void agent.stop().finally(() => process.exit(0));
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

/** `--enroll-only` (install.sh): the token is traded once for the credentials, stored 0600 in the data dir. */
async function enrollOnly(config: AgentConfig): Promise<void> {
  await secureDataDir(config.dataDir);
  const existing = await readIdentity(config.dataDir);
  if (existing) {
    console.log(`[agent] already enrolled as node ${existing.node_id}`);
    return;
  }
  if (!config.token) throw new Error('agent: --enroll-only needs --token <enrollment token>');
  const identity = await enroll({ natsUrl: config.natsUrl, dataDir: config.dataDir, token: config.token, gatewayUrl: config.gatewayUrl, bootstrapCreds: config.bootstrapCreds, version: AGENT_VERSION });
  console.log(`[agent] enrolled as node ${identity.node_id}; credentials in ${config.dataDir}`);
}

void main().catch((error) => {
  console.error(`[agent] ${(error as Error).message ?? error}`);
  process.exit(1);
});
