import { ServiceUnavailableError } from '@encedeus/contracts';
import { createTestDatabase, findOrStartPostgres, type PostgresServer, type TestDatabase } from '@encedeus/testing';
import { DataSource } from 'typeorm';
import { AdvisoryLocks } from './advisory-locks';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('AdvisoryLocks (two replicas on one real Postgres)', () => {
  let server: PostgresServer;
  let db: TestDatabase;
  const sources: DataSource[] = [];
  const source = async (poolSize = 10) => {
    const s = await new DataSource({ type: 'postgres', url: db.url, extra: { max: poolSize } }).initialize();
    sources.push(s);
    return s;
  };

  beforeAll(async () => {
    server = await findOrStartPostgres();
    db = await createTestDatabase(server);
  });
  afterAll(async () => {
    for (const s of sources) if (s.isInitialized) await s.destroy();
    await db.drop();
  });

  it('runs work on one key one at a time across two instances, and different keys side by side', async () => {
    const [a, b] = [new AdvisoryLocks(await source()), new AdvisoryLocks(await source())];
    let inside = 0;
    let most = 0;
    const work = async () => {
      inside++;
      most = Math.max(most, inside);
      await sleep(20);
      inside--;
    };

    await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).run('node-capacity/n1', work)));
    const started = Date.now();
    await Promise.all([a.run('k1', () => sleep(300)), b.run('k2', () => sleep(300))]);

    expect(most).toBe(1);
    expect(Date.now() - started).toBeLessThan(550);
  });

  it('answers 503 when another instance holds the key longer than the timeout, and frees the key when work throws', async () => {
    const holder = new AdvisoryLocks(await source());
    const impatient = new AdvisoryLocks(await source(), { timeoutMs: 200 });
    let release!: () => void;
    const held = holder.run('busy', () => new Promise<void>((r) => (release = r)));
    await sleep(100);

    await expect(impatient.run('busy', async () => 'never')).rejects.toBeInstanceOf(ServiceUnavailableError);
    release();
    await held;
    await expect(holder.run('busy', async () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    await expect(impatient.run('busy', async () => 'free')).resolves.toBe('free');
  });

  it('frees the key when the holder\'s process dies (its session ends)', async () => {
    const doomed = await source();
    const survivor = new AdvisoryLocks(await source());
    void new AdvisoryLocks(doomed).run('orphan', () => new Promise(() => undefined)).catch(() => undefined);
    await sleep(100);

    await doomed.destroy();

    await expect(survivor.run('orphan', async () => 'taken over')).resolves.toBe('taken over');
  });

  it('does not exhaust the pool when work on many keys at once needs a connection of its own too', async () => {
    const pooled = await source(5);
    const locks = new AdvisoryLocks(pooled, { timeoutMs: 10_000 });

    const done = await Promise.all(Array.from({ length: 30 }, (_, i) => locks.run(`node-${i}`, async () => (await pooled.query('select $1::int as n', [i]))[0].n)));

    expect(done).toHaveLength(30);
  }, 30_000);
});
