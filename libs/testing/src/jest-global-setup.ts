import { findOrStartPostgres, type PostgresServer } from './postgres';

/**
 * Jest globalSetup: decides on one PostgreSQL for the whole run (DATABASE_URL, else
 * 127.0.0.1:5432, else one embedded server) and hands it to every worker through DATABASE_URL,
 * so workers neither probe nor boot their own.
 */
export default async function globalSetup(): Promise<void> {
  const server: PostgresServer = await findOrStartPostgres();
  process.env.DATABASE_URL = server.adminUrl;
  (globalThis as { __encedeusPostgres?: PostgresServer }).__encedeusPostgres = server;
}
