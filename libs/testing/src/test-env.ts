import { connectNats } from '@encedeus/messaging';
import type { NatsConnection } from 'nats';
import { createTestDatabase, findOrStartPostgres, type PostgresServer, type TestDatabase } from './postgres';
import { startNats, type NatsHandle } from './start-nats';

/** Everything an integration test file needs: its own nats-server and its own database. */
export interface TestEnv {
  nats: NatsHandle;
  postgres: PostgresServer;
  db: TestDatabase;
  /** A connection as the given service user (closed by stop). */
  connect(user?: Parameters<NatsHandle['creds']>[0]): Promise<NatsConnection>;
  stop(): Promise<void>;
}

let sharedPostgres: Promise<PostgresServer> | undefined;

/** Starts an isolated environment; call `stop()` in afterAll. */
export async function startTestEnv(): Promise<TestEnv> {
  sharedPostgres ??= findOrStartPostgres();
  const postgres = await sharedPostgres;
  const nats = await startNats();
  const db = await createTestDatabase(postgres);
  const connections: NatsConnection[] = [];
  return {
    nats,
    postgres,
    db,
    async connect(user = 'admin') {
      const { nc } = await connectNats({ servers: nats.url, creds: await nats.creds(user), name: `test-${user}` });
      connections.push(nc);
      return nc;
    },
    async stop() {
      await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
      await nats.stop();
      await db.drop().catch(() => undefined);
    },
  };
}
