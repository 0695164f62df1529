import { Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { z } from 'zod';
import { defineEvent, type RecordedEvent } from '@encedeus/contracts';
import { startTestEnv, type TestEnv } from '@encedeus/testing';
import { EventStore, healthControllerFor, NO_STREAM, Projector, type NatsStatus, type Projection, type ServiceHealth } from './index';

// Deliberately a bare z.string(): the contracts' text() would refuse the NUL at append, and this
// test needs the poison inside EVENTS, as a foreign publisher or an older release could put it there.
const named = defineEvent('named.set', z.object({ name: z.string() }), 'test: a name was set');

/** Stores each name in a text column: Postgres refuses a NUL byte (`invalid byte sequence for encoding "UTF8": 0x00`). */
class NamesProjection implements Projection {
  readonly name: string;
  readonly filterSubject: string;
  readonly tables: string[];
  /** How often apply saw each sequence (a batch counts once for each of its events). */
  readonly seen = new Map<number, number>();
  constructor(readonly schema: string, aggregate = 'named') {
    this.name = `${schema}_names`;
    this.filterSubject = `evt.${aggregate}.>`;
    this.tables = [`${schema}.names`];
  }
  async migrate(em: EntityManager) {
    await em.query(`create table if not exists ${this.schema}.names (id text primary key, name text not null)`);
  }
  async apply(em: EntityManager, events: RecordedEvent[]) {
    for (const { sequence, event } of events) {
      this.seen.set(sequence, (this.seen.get(sequence) ?? 0) + 1);
      await em.query(`insert into ${this.schema}.names (id, name) values ($1, $2) on conflict (id) do update set name = $2`, [event.subject.split('/')[1], (event.data as { name: string }).name]);
    }
  }
}

const connected: NatsStatus = { connected: true, reconnecting: false };

describe('Projector and a poison event', () => {
  let env: TestEnv;
  let db: DataSource;
  let store: EventStore;

  beforeAll(async () => {
    env = await startTestEnv();
    db = await new DataSource({ type: 'postgres', url: env.db.url }).initialize();
    store = await EventStore.create(await env.connect('admin'), { service: 'test' });
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await db?.destroy();
    await env?.stop();
  });

  const setName = async (id: string, name: string, aggregate = 'named') =>
    (await store.append(aggregate, id, NO_STREAM, [{ type: named.type, data: { name } }], { actor: 'system' })).revision.sequence;
  const names = (schema: string) => db.query(`select id, name from ${schema}.names order by id`);

  it('parks the poison event after N attempts, applies the events after it and reports it in health', async () => {
    const before = [await setName('b1', 'before one'), await setName('b2', 'before two')];
    const poison = await setName('poison', 'poison\u0000srv');
    const after = [await setName('a1', 'after one'), await setName('a2', 'after two')];
    const projection = new NamesProjection('parked');
    const projector = new Projector(await env.connect('admin'), db, projection, { maxAttempts: 3, retryDelayMs: 10 });

    await projector.start();
    const caughtUp = await projector.waitFor(after[1], 30_000);
    const health = await new (healthControllerFor('nodes'))(connected, db).health() as ServiceHealth;
    await projector.stop();

    expect(caughtUp).toBe(true);
    expect(await names('parked')).toEqual([
      { id: 'a1', name: 'after one' },
      { id: 'a2', name: 'after two' },
      { id: 'b1', name: 'before one' },
      { id: 'b2', name: 'before two' },
    ]);
    const parked = await projector.deadLetters();
    expect(parked).toEqual([
      expect.objectContaining({ sequence: poison, subject: 'evt.named.poison', type: 'named.set', attempts: 3, error: expect.stringContaining('0x00') }),
    ]);
    expect(projection.seen.get(before[0])).toBe(2); // once in the failed batch, once on its own
    const [checkpoint] = await db.query(`select last_sequence from parked.projection_checkpoints where name = $1`, [projection.name]);
    expect(Number(checkpoint.last_sequence)).toBe(after[1]);
    expect(health).toMatchObject({ status: 'degraded', projections: { [projection.name]: { deadLetters: 1, position: after[1] } } });
  });

  it('does not park an event a second time after a restart, and keeps projecting new events', async () => {
    const projection = new NamesProjection('parked');
    const projector = new Projector(await env.connect('admin'), db, projection, { maxAttempts: 3, retryDelayMs: 10 });
    const later = await setName('later', 'later');

    await projector.start();
    const caughtUp = await projector.waitFor(later, 30_000);
    await projector.stop();

    expect(caughtUp).toBe(true);
    expect(await projector.deadLetters()).toHaveLength(1);
    expect(await names('parked')).toContainEqual({ id: 'later', name: 'later' });
  });

  it('parks a message that is not an event at once and applies the events around it', async () => {
    const nc = await env.connect('admin');
    const first = await setName('ok1', 'fine', 'garbled');
    const garbage = (await nc.jetstream().publish('evt.garbled.junk', new TextEncoder().encode('{"not": "an event'))).seq;
    const next = await setName('ok2', 'fine too', 'garbled');
    const projector = new Projector(nc, db, new NamesProjection('garbled', 'garbled'), { maxAttempts: 3, retryDelayMs: 10 });

    await projector.start();
    const caughtUp = await projector.waitFor(next, 30_000);
    await projector.stop();

    expect(caughtUp).toBe(true);
    expect(garbage).toBeGreaterThan(first);
    expect(await names('garbled')).toEqual([{ id: 'ok1', name: 'fine' }, { id: 'ok2', name: 'fine too' }]);
    expect(await projector.deadLetters()).toEqual([
      expect.objectContaining({ sequence: garbage, subject: 'evt.garbled.junk', attempts: 1, error: expect.stringContaining('invalid event') }),
    ]);
  });

  it('recreates its durable consumer when it was deleted under it, logs it, and projects later events', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const projection = new NamesProjection('recreated', 'renamed');
    const projector = new Projector(await env.connect('admin'), db, projection, { maxAttempts: 3, retryDelayMs: 10 });
    await projector.start();
    expect(await projector.waitFor(await setName('first', 'first', 'renamed'), 30_000)).toBe(true);
    const jsm = await (await env.connect('admin')).jetstreamManager();

    await jsm.consumers.delete('EVENTS', projection.name);
    const next = await setName('second', 'second', 'renamed');
    const caughtUp = await projector.waitFor(next, 30_000);
    await projector.stop();

    expect(caughtUp).toBe(true);
    expect(await names('recreated')).toContainEqual({ id: 'second', name: 'second' });
    expect(warn.mock.calls.map(([message]) => String(message))).toContainEqual(expect.stringMatching(/consumer .* (was deleted|is missing); recreat/));
  });
});
