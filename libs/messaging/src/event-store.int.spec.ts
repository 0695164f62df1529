import { z } from 'zod';
import { defineEvent, WrongExpectedRevisionError, type CloudEvent } from '@encedeus/contracts';
import { startTestEnv, type TestEnv } from '@encedeus/testing';
import { EventStore, NO_STREAM, type Reducer } from './index';

const counted = defineEvent('counter.incremented', z.object({ by: z.number().int() }), 'test: a counter went up');

const counter: Reducer<{ total: number }> = {
  name: 'counter-v1',
  initialState: () => ({ total: 0 }),
  evolve: (state, e: CloudEvent) => ({ total: state.total + (e.data as { by: number }).by }),
};

describe('EventStore', () => {
  let env: TestEnv;
  let store: EventStore;

  beforeAll(async () => {
    env = await startTestEnv();
    store = await EventStore.create(await env.connect('admin'), { service: 'test', snapshotEvery: 10 });
  });
  afterAll(() => env.stop());

  it('lets exactly one of 50 concurrent appends at the same version win', async () => {
    const attempts = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        store.append('counter', 'race', NO_STREAM, [{ type: counted.type, data: { by: i } }], { actor: 'system' }),
      ),
    );

    const won = attempts.filter((a) => a.status === 'fulfilled');
    const lost = attempts.filter((a) => a.status === 'rejected') as PromiseRejectedResult[];
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(49);
    for (const l of lost) expect(l.reason).toBeInstanceOf(WrongExpectedRevisionError);
    const { revision } = await store.load('counter', 'race', counter);
    expect(revision.version).toBe(1);
  });

  it('stores one event for appends retried at the same revision with the same idempotency key', async () => {
    const meta = { actor: 'system', idempotencyKey: 'key-1' };
    const first = await store.append('counter', 'idem', NO_STREAM, [{ type: counted.type, data: { by: 5 } }], meta);
    const retry = await store.append('counter', 'idem', NO_STREAM, [{ type: counted.type, data: { by: 5 } }], meta);

    expect(first.duplicate).toBe(false);
    expect(retry.duplicate).toBe(true);
    const { state, revision } = await store.load('counter', 'idem', counter);
    expect(revision.version).toBe(1);
    expect(state.total).toBe(5);
  });

  it('stores every append of a command that appends several times with one idempotency key', async () => {
    const meta = { actor: 'system', idempotencyKey: 'one-command' };

    const created = await store.append('counter', 'multi', NO_STREAM, [{ type: counted.type, data: { by: 1 } }], meta);
    const next = await store.append('counter', 'multi', created.revision, [{ type: counted.type, data: { by: 2 } }, { type: counted.type, data: { by: 3 } }], meta);

    expect([created.duplicate, next.duplicate]).toEqual([false, false]);
    const { state, revision } = await store.load('counter', 'multi', counter);
    expect(revision.version).toBe(3);
    expect(state.total).toBe(6);
  });

  it('answers a page of the log for a filter nothing matches at once, empty (it waited forever before)', async () => {
    await store.append('counter', 'page', NO_STREAM, [{ type: counted.type, data: { by: 1 } }], { actor: 'system' });
    const started = Date.now();

    const page = await store.readAll({ limit: 10, filterSubject: 'evt.nothing-here.>' });
    const matching = await store.readAll({ limit: 10, filterSubject: 'evt.counter.page' });

    expect(page).toEqual([]);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(matching.map((r) => r.event.data)).toEqual([{ by: 1 }]);
  });

  it('checks a bare expected version against the stream', async () => {
    await store.append('counter', 'bare', 0, [{ type: counted.type, data: { by: 1 } }], { actor: 'system' });

    const stale = store.append('counter', 'bare', 0, [{ type: counted.type, data: { by: 1 } }], { actor: 'system' });

    await expect(stale).rejects.toBeInstanceOf(WrongExpectedRevisionError);
  });

  it('chains several events of one command and replays them through snapshots', async () => {
    let revision = NO_STREAM;
    for (let i = 0; i < 5; i++) {
      const events = Array.from({ length: 7 }, () => ({ type: counted.type, data: { by: 1 } }));
      ({ revision } = await store.append('counter', 'long', revision, events, { actor: 'user:u1', correlationId: 'c1' }));
    }

    const first = await store.load('counter', 'long', counter);
    const again = await store.load('counter', 'long', counter);

    expect(first.revision.version).toBe(35);
    expect(first.state.total).toBe(35);
    expect(again).toEqual(first);
  });

  it('rejects an event whose data breaks its schema, appending nothing', async () => {
    const bad = store.append('counter', 'bad', 0, [{ type: counted.type, data: { by: 'x' } }], { actor: 'system' });

    await expect(bad).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await store.currentRevision('evt.counter.bad')).version).toBe(0);
  });
});
