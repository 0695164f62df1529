/** Anything that runs SQL: a TypeORM EntityManager or DataSource, a pg Pool or client. */
export interface Queryable {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

/** Where a migration needs a transaction: TypeORM's DataSource. */
export interface TransactionalDataSource {
  transaction<T>(work: (em: Queryable) => Promise<T>): Promise<T>;
}

/**
 * Takes the migration lock of a Postgres schema for the current transaction. Every piece of code
 * that creates a schema or tables in it takes this one key (`encedeus:migrate:<schema>`): replicas
 * booting together, and a service's projector beside its own tables, otherwise race on
 * `create … if not exists` (a unique violation in pg_namespace).
 */
export async function lockSchemaMigration(em: Queryable, schema: string): Promise<void> {
  await em.query('select pg_advisory_xact_lock(hashtext($1))', [`encedeus:migrate:${schema}`]);
}

/**
 * Runs DDL for a schema in one transaction under its migration lock, the schema created first.
 * `ddl` gets the transaction's manager.
 */
export function migrateSchema(db: TransactionalDataSource, schema: string, ddl: (em: Queryable) => Promise<void> = async () => undefined): Promise<void> {
  return db.transaction(async (em) => {
    await lockSchemaMigration(em, schema);
    await em.query(`create schema if not exists "${schema}"`);
    await ddl(em);
  });
}
