import { z } from 'zod';
import { Events, type NatsConnection } from 'nats';
import { defineEvent, DomainError, STREAMS, WrongExpectedRevisionError, type CloudEvent } from '@encedeus/contracts';
import { startNatsCluster, type NatsClusterHandle } from '@encedeus/testing';
import { connectNats, ensureStreams, EventStore, NO_STREAM, type Revision } from './index';

const appended = defineEvent('ledger.appended', z.object({ k: z.number().int() }), 'test: one append of a chain');

const AGGREGATES = 40;
/** How long one append may keep retrying a 503 (no stream leader yet, server gone) before the test fails. */
const RETRY_FOR_MS = 25_000;

/** Resolves once `check` holds; rejects with `what` after `timeoutMs`, or with `failure()` as soon as it is set. */
async function until(what: string, check: () => boolean | Promise<boolean>, failure: () => unknown = () => undefined, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (failure()) throw failure();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('EventStore on a 3-node NATS cluster', () => {
  let cluster: NatsClusterHandle;
  let nc: NatsConnection;
  let store: EventStore;

  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3 });
    ({ nc } = await connectNats({ servers: cluster.urls, creds: await cluster.creds('admin'), name: 'test-cluster', reconnectTimeWaitMs: 100 }));
    await ensureStreams(await nc.jetstreamManager(), [STREAMS.events], { replicas: 3 });
    store = await EventStore.create(nc, { service: 'test', publishTimeoutMs: 2000 });
  });
  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    await cluster?.stop();
  });

  it('creates EVENTS with three replicas, all current', async () => {
    const info = await (await nc.jetstreamManager()).streams.info(STREAMS.events);

    expect(info.config.num_replicas).toBe(3);
    expect(info.cluster?.leader).toBeDefined();
    expect(info.cluster?.replicas?.map((r) => r.current)).toEqual([true, true]);
  });

  it('stores one event for an append retried at the same revision with the same idempotency key', async () => {
    const meta = { actor: 'system', idempotencyKey: 'retried' };
    const created = await store.append('ledger', 'retried', NO_STREAM, [{ type: appended.type, data: { k: 0 } }], meta);
    const first = await store.append('ledger', 'retried', created.revision, [{ type: appended.type, data: { k: 1 } }], meta);

    const retry = await store.append('ledger', 'retried', created.revision, [{ type: appended.type, data: { k: 1 } }], meta);

    expect(retry).toMatchObject({ duplicate: true, revision: first.revision });
    expect(retry.events.map((e) => e.sequence)).toEqual(first.events.map((e) => e.sequence));
    expect(await store.currentRevision('evt.ledger.retried')).toEqual(first.revision);
  });

  it('still refuses an append at a stale revision with another idempotency key', async () => {
    const created = await store.append('ledger', 'stale', NO_STREAM, [{ type: appended.type, data: { k: 0 } }], { actor: 'system', idempotencyKey: 'one' });
    await store.append('ledger', 'stale', created.revision, [{ type: appended.type, data: { k: 1 } }], { actor: 'system', idempotencyKey: 'two' });

    const stale = store.append('ledger', 'stale', created.revision, [{ type: appended.type, data: { k: 1 } }], { actor: 'system', idempotencyKey: 'three' });

    await expect(stale).rejects.toBeInstanceOf(WrongExpectedRevisionError);
  });

  it('keeps every acknowledged append while a server is killed and restarted under load, and the client reconnects by itself', async () => {
    const acks: { aggregate: string; k: number; sequence: number; at: number }[] = [];
    const acksSince = (at: number) => acks.filter((a) => a.at > at).length;
    let reconnectedAt = 0;
    void (async () => {
      for await (const s of nc.status()) if (s.type === Events.Reconnect) reconnectedAt ||= Date.now();
    })();

    /** One append with the client's retry policy: a 503 is retried with the same key at the same revision. */
    const appendWithRetry = async (aggregate: string, k: number, expected: Revision): Promise<Revision> => {
      const deadline = Date.now() + RETRY_FOR_MS;
      for (;;) {
        try {
          const result = await store.append('ledger', aggregate, expected, [{ type: appended.type, data: { k } }], { actor: 'system', idempotencyKey: `${aggregate}-${k}` });
          acks.push({ aggregate, k, sequence: result.events[0]?.sequence ?? result.revision.sequence, at: Date.now() });
          return result.revision;
        } catch (error) {
          if (!(error instanceof DomainError && error.code === 'SERVICE_UNAVAILABLE') || Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };

    // A steady load: every aggregate a chain of appends, all chains in flight, until told to stop.
    let stopping = false;
    const load = Promise.all(
      Array.from({ length: AGGREGATES }, async (_, a) => {
        let revision: Revision = NO_STREAM;
        for (let k = 0; !stopping; k++) revision = await appendWithRetry(`a${a}`, k, revision);
      }),
    );
    let loadError: unknown;
    load.catch((error) => (loadError = error ?? new Error('load failed')));
    const failure = () => loadError;

    // Kill the server this client is connected to: the client must move to another by itself.
    await until('the first appends', () => acks.length >= 300, failure);
    const connectedTo = cluster.urls.findIndex((url) => url.endsWith(`:${nc.getServer().split(':').pop()}`));
    expect(connectedTo).toBeGreaterThanOrEqual(0);
    await cluster.kill(connectedTo);
    const killedAt = Date.now();
    await until('the client to reconnect', () => reconnectedAt > 0, failure);
    await until('appends while one server is down', () => acksSince(reconnectedAt) >= 100, failure);
    await cluster.restart(connectedTo);
    const restartedAt = Date.now();
    await until('appends after the restart', () => acksSince(restartedAt) >= 100, failure, 25_000);
    stopping = true;
    await load;
    expect(reconnectedAt).toBeGreaterThan(killedAt);

    // Each aggregate is a chain (every append expected the sequence of the one before), so its version
    // counts its stored events: it equals the number of acknowledged appends, none lost, none twice.
    const acked = new Map<string, number>();
    for (const ack of acks) acked.set(ack.aggregate, (acked.get(ack.aggregate) ?? 0) + 1);
    for (const [aggregate, count] of acked) expect([aggregate, (await store.currentRevision(`evt.ledger.${aggregate}`)).version]).toEqual([aggregate, count]);
    // The appends acknowledged around the kill and the restart are at the sequences their acks named (read from the stream leader).
    const jsm = await nc.jetstreamManager();
    const risky = acks.filter((a) => (a.at >= killedAt - 1000 && a.at <= reconnectedAt + 2000) || (a.at >= restartedAt - 1000 && a.at <= restartedAt + 2000));
    const mismatched: typeof acks = [];
    for (let i = 0; i < risky.length; i += 200) {
      await Promise.all(
        risky.slice(i, i + 200).map(async (ack) => {
          const event = (await jsm.streams.getMessage(STREAMS.events, { seq: ack.sequence })).json<CloudEvent>();
          if (event.subject !== `ledger/${ack.aggregate}` || (event.data as { k: number }).k !== ack.k || event.aggregateversion !== ack.k + 1) mismatched.push(ack);
        }),
      );
    }
    expect(risky.length).toBeGreaterThan(0);
    expect(mismatched).toEqual([]);
  });
});
