import type { PostgresServer } from './postgres';

/** Jest globalTeardown: stops the embedded PostgreSQL that globalSetup may have started. */
export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __encedeusPostgres?: PostgresServer }).__encedeusPostgres?.stop();
}
