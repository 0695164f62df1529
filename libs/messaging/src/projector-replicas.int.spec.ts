import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { z } from 'zod';
import { defineEvent, type RecordedEvent } from '@encedeus/contracts';
import { startTestEnv, type TestEnv } from '@encedeus/testing';
import { EventStore, NO_STREAM, Projector, projectionStatus, type Projection, type Revision } from './index';

const counted = defineEvent('count.added', z.object({ by: z.number().int() }), 'test: a count grew');

/** A total and an order-sensitive digest per aggregate: an event skipped, doubled or reordered shows. */
class CountProjection implements Projection {
  readonly name: string;
  readonly filterSubject = 'evt.count.>';
  readonly tables: string[];
  constructor(readonly schema: string) {
    this.name = `${schema}_counts`;
    this.tables = [`${schema}.counts`];
  }
  async migrate(em: EntityManager) {
    await em.query(`create table if not exists ${this.schema}.counts (id text primary key, total int not null, digest text not null, version int not null)`);
  }
  async apply(em: EntityManager, events: RecordedEvent[]) {
    for (const { event } of events) {
      const id = event.subject.split('/')[1];
      const by = (event.data as { by: number }).by;
      await em.query(
        `insert into ${this.schema}.counts (id, total, digest, version) values ($1, $2, $3, $4)
         on conflict (id) do update set total = counts.total + $2, digest = md5(counts.digest || $3), version = $4`,
        [id, by, String(by), event.aggregateversion],
      );
    }
  }
}

/**
 * Issue 9: two instances of a service pull from one durable. JetStream hands consecutive batches to
 * either of them, and the checkpoint only moves forward, so a later batch committed first made the
 * earlier one look applied: its events were dropped. The projection must come out as one instance
 * alone makes it.
 */
describe('Projector with two replicas on one durable under a burst', () => {
  let env: TestEnv;
  let db: DataSource;
  let store: EventStore;
  const schema = `p${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    env = await startTestEnv();
    db = await new DataSource({ type: 'postgres', url: env.db.url }).initialize();
    store = await EventStore.create(await env.connect('admin'), { service: 'test' });
  });
  afterAll(async () => {
    await db?.destroy();
    await env?.stop();
  });

  const expected = new Map<string, { total: number; version: number }>();
  const revisions = new Map<string, Revision>();

  /** Appends rounds × 60 events over 60 aggregates, concurrently per round; answers the last sequence. */
  async function burst(rounds: number): Promise<number> {
    let last = 0;
    for (let round = 0; round < rounds; round++) {
      await Promise.all(
        Array.from({ length: 60 }, async (_, n) => {
          const id = `c${n}`;
          const by = (round * 5 + n) % 11;
          const { revision } = await store.append('count', id, revisions.get(id) ?? NO_STREAM, [{ type: counted.type, data: { by } }], { actor: 'system' });
          revisions.set(id, revision);
          last = Math.max(last, revision.sequence);
          const was = expected.get(id) ?? { total: 0, version: 0 };
          expected.set(id, { total: was.total + by, version: revision.version });
        }),
      );
    }
    return last;
  }

  async function table(): Promise<Map<string, { total: number; version: number }>> {
    const rows: { id: string; total: number; version: number }[] = await db.query(`select id, total, version from ${schema}.counts order by id`);
    return new Map(rows.map((r) => [r.id, { total: r.total, version: r.version }]));
  }

  it('applies every event once, in order, whichever replica pulled it', async () => {
    const projection = new CountProjection(schema);
    const [a, b] = await Promise.all([0, 1].map(async () => new Projector(await env.connect('admin'), db, projection, { batchSize: 20 })));
    await a.start();
    await b.start();

    const last = await burst(8);

    expect(await a.waitFor(last, 30_000)).toBe(true);
    const leaders = [a, b].filter((p) => p.isLeading);
    const status = await projectionStatus(db);
    await a.stop();
    await b.stop();
    expect(leaders).toHaveLength(1);
    expect(status[projection.name]).toMatchObject({ position: last, deadLetters: 0 });
    expect(await table()).toEqual(expected);
  });

  it('hands the lead over when the leader loses its Postgres session, and still loses nothing', async () => {
    const projection = new CountProjection(schema);
    const [a, b] = await Promise.all([0, 1].map(async () => new Projector(await env.connect('admin'), db, projection, { batchSize: 20 })));
    await a.start();
    await b.start();
    const first = await burst(2);
    expect(await a.waitFor(first, 30_000)).toBe(true);
    const leader = [a, b].find((p) => p.isLeading)!;
    const standby = leader === a ? b : a;

    // The session holding the advisory lock dies, as when the leader's host drops off the network.
    await db.query(`select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())`);
    const last = await burst(4);

    expect(await standby.waitFor(last, 30_000)).toBe(true);
    const leaders = [a, b].filter((p) => p.isLeading);
    await a.stop();
    await b.stop();
    expect(leaders).toHaveLength(1);
    expect(await table()).toEqual(expected);
  });

  it('rebuilds (the CLI) under a live leader that keeps appending: the table ends equal to a full replay', async () => {
    const projection = new CountProjection(schema);
    const live = new Projector(await env.connect('admin'), db, projection, { batchSize: 20 });
    await live.start();
    const before = await burst(2);
    expect(await live.waitFor(before, 30_000)).toBe(true);

    const cli = new Projector(await env.connect('admin'), db, projection, { batchSize: 20 });
    const [, during] = await Promise.all([(async () => { await cli.rebuild(); await cli.catchUp(); })(), burst(4)]);
    const last = Math.max(during, await burst(1));

    const deadline = Date.now() + 30_000;
    while ((await live.sharedPosition()) < last && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await live.stop();
    expect(await live.sharedPosition()).toBeGreaterThanOrEqual(last);
    expect(await table()).toEqual(expected);
  });
});
