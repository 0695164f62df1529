import { randomUUID } from 'node:crypto';
import { createTestDatabase, findOrStartPostgres, type PostgresServer, type TestDatabase } from '@encedeus/testing';
import { DataSource } from 'typeorm';
import { BinaryCopyRows, copyBinaryRows } from './pg-copy';

/** The binary COPY (metrics samples) against a real Postgres: every value back as it went in, and all or nothing. */
describe('copyBinaryRows (real Postgres)', () => {
  let server: PostgresServer;
  let db: TestDatabase;
  let source: DataSource;
  const columns = ['a', 'id', 't', 'x'];

  beforeAll(async () => {
    server = await findOrStartPostgres();
    db = await createTestDatabase(server);
    source = await new DataSource({ type: 'postgres', url: db.url }).initialize();
    await source.query('create table copy_binary (a text, id uuid, t timestamptz, x float8)');
  });
  afterAll(async () => {
    if (source?.isInitialized) await source.destroy();
    await db?.drop();
  });
  afterEach(() => source.query('truncate copy_binary'));

  const count = async () => Number((await source.query('select count(*)::int as n from copy_binary'))[0].n);

  it('loads text, uuids, times and floats as they were, nulls included', async () => {
    const id = randomUUID();
    const cases = [
      { a: 'tab\there\nand a line', id, t: Date.UTC(2026, 11, 2, 14, 0, 0, 123), x: 1.5 },
      { a: 'ünïcødé ✓ \\N', id: id.toUpperCase(), t: Date.UTC(1999, 0, 1, 23, 59, 59, 999), x: -0.000123 },
      { a: null, id: null, t: null, x: null },
      { a: '', id: randomUUID(), t: 0, x: Number.MAX_VALUE },
      { a: 'far', id: randomUUID(), t: Date.UTC(2200, 5, 30), x: 1e-300 },
    ];
    const rows = new BinaryCopyRows(16); // far too small: the buffer grows
    for (const c of cases) rows.row(4).text(c.a).uuid(c.id).timestamp(c.t).float8(c.x);
    expect(await source.transaction((em) => copyBinaryRows(em, 'copy_binary', columns, rows))).toBe(cases.length);

    const back: { a: string | null; id: string | null; t: string | null; x: number | null }[] = await source.query(
      `select a, id::text as id, (extract(epoch from t) * 1000)::text as t, x from copy_binary order by copy_binary.t nulls last`,
    );
    const expected = [...cases].sort((p, q) => (p.t ?? Infinity) - (q.t ?? Infinity));
    expect(back.map((r) => ({ a: r.a, id: r.id, t: r.t === null ? null : Number(r.t), x: r.x === null ? null : Number(r.x) }))).toEqual(
      expected.map((c) => ({ a: c.a, id: c.id?.toLowerCase() ?? null, t: c.t, x: c.x })),
    );
  });

  it('loads thousands of rows in one COPY', async () => {
    const rows = new BinaryCopyRows();
    const id = randomUUID();
    for (let i = 0; i < 20_000; i++) rows.row(4).text(`series-${i % 7}`).uuid(id).timestamp(1_700_000_000_000 + i * 5000).float8(i / 3);
    expect(await source.transaction((em) => copyBinaryRows(em, 'copy_binary', columns, rows))).toBe(20_000);
    const [{ n, sum }] = await source.query('select count(*)::int as n, sum(x) as sum from copy_binary');
    expect(n).toBe(20_000);
    expect(Number(sum)).toBeCloseTo((19_999 * 20_000) / 2 / 3, 3);
  });

  it('refuses a malformed uuid or time before sending anything', () => {
    expect(() => new BinaryCopyRows().row(4).text('x').uuid('not-a-uuid')).toThrow(/not a uuid/);
    expect(() => new BinaryCopyRows().row(4).text('x').uuid(`${randomUUID()}0`)).toThrow(/not a uuid/);
    expect(() => new BinaryCopyRows().row(4).text('x').uuid(randomUUID()).timestamp(Number.NaN)).toThrow(/not a time/);
  });

  it('loads nothing when one row is bad, and the connection stays usable', async () => {
    const rows = new BinaryCopyRows();
    rows.row(4).text('fine').uuid(randomUUID()).timestamp(Date.now()).float8(1);
    rows.row(4).text('nul \u0000 inside').uuid(randomUUID()).timestamp(Date.now()).float8(2);
    await expect(source.transaction((em) => copyBinaryRows(em, 'copy_binary', columns, rows))).rejects.toThrow(/0x00|invalid byte sequence/);
    expect(await count()).toBe(0);

    const short = new BinaryCopyRows();
    short.row(4).text('three values for four columns').uuid(randomUUID()).timestamp(Date.now());
    await expect(source.transaction((em) => copyBinaryRows(em, 'copy_binary', columns, short))).rejects.toThrow();
    expect(await count()).toBe(0);
    expect(await source.query('select 1 as one')).toEqual([{ one: 1 }]);
  });
});
