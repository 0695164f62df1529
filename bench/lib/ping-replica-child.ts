import 'reflect-metadata';
import { startPingStack, type PingStackOptions } from './ping-stack';

/**
 * A second replica of the ping stack (gateway + stub service) in a process of its own, as a second
 * pod would be: rest-replicas.bench.ts spawns it with the options as JSON in PING_REPLICA, reads
 * `ready <gateway url>` from stdout, and ends it with SIGTERM.
 */
async function main(): Promise<void> {
  const options = JSON.parse(process.env.PING_REPLICA ?? '') as PingStackOptions;
  const stack = await startPingStack(options);
  console.log(`ready ${stack.gateway.url}`);
  const stop = () => void stack.close().finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error) => {
  console.error('ping-replica-child failed:', error);
  process.exit(1);
});
