import { createTestDatabase, findOrStartPostgres, type TestDatabase } from '@encedeus/testing';
import { DataSource } from 'typeorm';
import { migrateSchema } from './schema-migration';

describe('migrateSchema (replicas booting together on a real Postgres)', () => {
  let db: TestDatabase;
  const sources: DataSource[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(await findOrStartPostgres());
    for (let i = 0; i < 6; i++) sources.push(await new DataSource({ type: 'postgres', url: db.url }).initialize());
  });
  afterAll(async () => {
    for (const s of sources) await s.destroy();
    await db.drop();
  });

  it('creates one schema and its tables from six instances at once without a unique violation', async () => {
    const ddl = (table: string) => async (em: { query(sql: string): Promise<unknown> }) => {
      await em.query(`create table if not exists race.${table} (id int primary key)`);
    };

    const results = await Promise.allSettled(sources.map((s, i) => migrateSchema(s, 'race', ddl(i % 2 ? 'a' : 'b'))));

    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const tables = await sources[0].query(`select table_name from information_schema.tables where table_schema = 'race' order by 1`);
    expect(tables.map((t: { table_name: string }) => t.table_name)).toEqual(['a', 'b']);
  });
});
