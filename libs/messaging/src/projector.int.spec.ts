import { Client } from 'pg';
import { DataSource, type EntityManager } from 'typeorm';
import { z } from 'zod';
import { defineEvent, type RecordedEvent } from '@encedeus/contracts';
import { startTestEnv, waitFor, type TestEnv } from '@encedeus/testing';
import { EventStore, NO_STREAM, Projector, type Projection, type Revision } from './index';

const tallied = defineEvent('tally.added', z.object({ by: z.number().int() }), 'test: a tally grew');

/** total and an order-sensitive digest per aggregate, so a skipped, doubled or reordered event shows. */
class TallyProjection implements Projection {
  readonly name: string;
  readonly filterSubject = 'evt.tally.>';
  readonly tables: string[];
  constructor(readonly schema: string) {
    this.name = `${schema}_tallies`;
    this.tables = [`${schema}.tallies`];
  }
  async migrate(em: EntityManager) {
    await em.query(`create table if not exists ${this.schema}.tallies (id text primary key, total int not null, digest text not null, version int not null)`);
  }
  async apply(em: EntityManager, events: RecordedEvent[]) {
    for (const { event } of events) {
      const id = event.subject.split('/')[1];
      const by = (event.data as { by: number }).by;
      await em.query(
        `insert into ${this.schema}.tallies (id, total, digest, version) values ($1, $2, $3, $4)
         on conflict (id) do update set total = tallies.total + $2, digest = md5(tallies.digest || $3), version = $4`,
        [id, by, String(by), event.aggregateversion],
      );
    }
  }
}

async function waitUntil(projector: Projector, sequence: number) {
  expect(await projector.waitFor(sequence, 30_000)).toBe(true);
}

describe('Projector', () => {
  let env: TestEnv;
  let db: DataSource;
  let store: EventStore;
  let last = 0;

  beforeAll(async () => {
    env = await startTestEnv();
    db = await new DataSource({ type: 'postgres', url: env.db.url }).initialize();
    store = await EventStore.create(await env.connect('admin'), { service: 'test' });
    const revisions = new Map<string, Revision>();
    const appends: Promise<unknown>[] = [];
    for (let round = 0; round < 10; round++) {
      for (let a = 0; a < 150; a++) {
        const id = `a${a}`;
        appends.push(
          store.append('tally', id, revisions.get(id) ?? NO_STREAM, [{ type: tallied.type, data: { by: (round * 7 + a) % 13 } }], { actor: 'system' })
            .then((r) => revisions.set(id, r.revision)),
        );
      }
      await Promise.all(appends.splice(0));
    }
    last = await store.lastSequence();
  });
  afterAll(async () => {
    await db?.destroy();
    await env?.stop();
  });

  const rows = (schema: string) => db.query(`select id, total, digest, version from ${schema}.tallies order by id`);

  it('ends a run killed mid-stream with the same table as an uninterrupted run, and rebuilds it identically', async () => {
    const reference = new Projector(await env.connect('admin'), db, new TallyProjection('ref'), { batchSize: 50 });
    await reference.start();
    await waitUntil(reference, last);
    await reference.stop();

    const doomedConnection = await env.connect('admin');
    const doomed = new Projector(doomedConnection, db, new TallyProjection('live'), { batchSize: 37 });
    await doomed.start();
    const killAt = 200 + Math.floor(Math.random() * 1000);
    await doomed.waitFor(killAt, 30_000);
    await doomedConnection.close(); // a kill: no clean stop, unacknowledged messages left behind
    const restarted = new Projector(await env.connect('admin'), db, new TallyProjection('live'), { batchSize: 37 });
    await restarted.start();
    await waitUntil(restarted, last);

    expect(await rows('live')).toEqual(await rows('ref'));
    expect((await rows('ref')).length).toBe(150);

    await restarted.rebuild();
    await waitUntil(restarted, last);
    await restarted.stop();

    expect(await rows('live')).toEqual(await rows('ref'));
  });

  it('skips events it already applied when they are delivered again', async () => {
    const projection = new TallyProjection('again');
    const first = new Projector(await env.connect('admin'), db, projection);
    await first.start();
    await waitUntil(first, last);
    await first.stop();

    // Reading the whole stream again delivers every event a second time; the checkpoint makes them no-ops.
    const second = new Projector(await env.connect('admin'), db, projection);
    await second.catchUp(1);

    expect(await rows('again')).toEqual(await rows('ref'));
  });

  it('hands every event to `committed` once, after its commit, from whichever replica leads, and none of a catch-up replay', async () => {
    const seen: number[] = [];
    const afterCommit: Promise<boolean>[] = [];
    const committed = (events: RecordedEvent[]) => {
      const newest = Math.max(...events.map((e) => e.sequence));
      seen.push(...events.map((e) => e.sequence));
      afterCommit.push(db.query(`select last_sequence from notified.projection_checkpoints where name = 'notified_tallies'`).then(([row]) => Number(row.last_sequence) >= newest));
    };
    const a = new Projector(await env.connect('admin'), db, new TallyProjection('notified'), { batchSize: 100, committed });
    const b = new Projector(await env.connect('admin'), db, new TallyProjection('notified'), { batchSize: 100, committed });
    await a.start();
    await b.start();
    await waitUntil(a, last);
    await a.stop();
    await b.stop();
    await new Projector(await env.connect('admin'), db, new TallyProjection('replayed'), { committed }).catchUp(1);

    expect(seen).toHaveLength(1500);
    expect(new Set(seen).size).toBe(1500);
    expect(Math.max(...seen)).toBe(last);
    expect(await Promise.all(afterCommit)).not.toContain(false);
  });

  it('lets a write wait on either of two replicas sharing one durable, whichever applied it', async () => {
    const projection = new TallyProjection('replicas');
    const a = new Projector(await env.connect('admin'), db, projection);
    const b = new Projector(await env.connect('admin'), db, projection);
    await a.start();
    await b.start();
    await waitUntil(a, last);

    const waits: boolean[] = [];
    for (let i = 0; i < 40; i++) {
      const { revision } = await store.append('tally', `r${i}`, NO_STREAM, [{ type: tallied.type, data: { by: 1 } }], { actor: 'system' });
      waits.push(await (i % 2 === 0 ? a : b).waitFor(revision.sequence, 1000));
    }
    await a.stop();
    await b.stop();

    expect(waits.filter((ok) => !ok)).toHaveLength(0);
    expect(await db.query(`select count(*)::int as n from replicas.tallies where id like 'r%'`)).toEqual([{ n: 40 }]);
  });

  it('starts over from its checkpoint when a coalesced commit fails on the database, and applies what came after', async () => {
    const projector = new Projector(await env.connect('admin'), db, new TallyProjection('coalesced'), { coalesceMs: 50 });
    await projector.start();
    await waitUntil(projector, last);
    // The next commit waits on its checkpoint row; ending that commit's connection fails it outside apply (nothing to park).
    const holder = new Client({ connectionString: env.db.url });
    await holder.connect();
    const [{ pid: holderPid }] = (await holder.query('select pg_backend_pid() as pid')).rows;
    await holder.query('begin');
    await holder.query(`select 1 from coalesced.projection_checkpoints where name = 'coalesced_tallies' for update`);
    await store.append('tally', 'lost', NO_STREAM, [{ type: tallied.type, data: { by: 5 } }], { actor: 'system' });
    const commit = await waitFor('the coalesced commit waiting on the checkpoint', async () => (await db.query('select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [holderPid]))[0]?.pid as number | undefined);
    await db.query('select pg_terminate_backend($1)', [commit]);
    await holder.query('rollback');
    await holder.end();

    await store.append('tally', 'later', NO_STREAM, [{ type: tallied.type, data: { by: 7 } }], { actor: 'system' });
    // Read the table, not waitFor: a waiter makes the projector commit at once and see the failure itself.
    const applied = async () => (await db.query(`select id, total from coalesced.tallies where id in ('lost', 'later') order by id`)) as { id: string; total: number }[];
    await waitFor('both tallies applied', async () => (await applied()).length === 2, 10_000).catch(() => undefined);
    await projector.stop();

    expect(await applied()).toEqual([{ id: 'later', total: 7 }, { id: 'lost', total: 5 }]);
  });

  it('empties and replays its read model when EVENTS was recreated under a kept database', async () => {
    const projection = new TallyProjection('wiped');
    const before = new Projector(await env.connect('admin'), db, projection);
    await before.start();
    await waitUntil(before, last);
    await before.stop();
    const nc = await env.connect('admin');
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete('EVENTS');
    const fresh = await EventStore.create(nc, { service: 'test' });
    const { revision } = await fresh.append('tally', 'new', NO_STREAM, [{ type: tallied.type, data: { by: 3 } }], { actor: 'system' });

    const after = new Projector(nc, db, projection);
    await after.start();
    await waitUntil(after, revision.sequence);
    await after.stop();

    expect(await rows('wiped')).toEqual([{ id: 'new', total: 3, digest: '3', version: 1 }]);
  });
});
