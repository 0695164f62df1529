import { parseAgentArgs } from './config';
import { Agent } from './agent';

/**
 * `npm run agent -- --nats <url> --token <enrollment token> [--data-dir .data/agent]`
 * (or NATS_URL, ENCEDEUS_ENROLL_TOKEN, AGENT_DATA_DIR). The token is needed once; afterwards the
 * agent reconnects with the credentials stored in its data dir.
 */
async function main(): Promise<void> {
  const agent = new Agent(parseAgentArgs(process.argv.slice(2)));
  await agent.start();
  void agent.revoked.then(() => process.exit(0));
  const shutdown = () => void agent.stop().finally(() => process.exit(0));
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

void main().catch((error) => {
  console.error(`[agent] ${(error as Error).message ?? error}`);
  process.exit(1);
});
