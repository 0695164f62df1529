import { connect, credsAuthenticator, JSONCodec, type JetStreamClient, type NatsConnection } from 'nats';
import { event, type CloudEvent } from '@encedeus/contracts';
import { EventStore, inboxPrefixFromCreds, NO_STREAM, type Reducer, type Revision } from '@encedeus/messaging';
import { connectWithoutResponsePermissions } from './lib/creds';
import { benchEnv, conditions, fmt, Latency, median, record, secondsSince, type BenchEnv } from './lib/harness';
import { benchRecorded, NOTE } from './lib/events';

/**
 * EventStore.append throughput with the concurrency check on (each append expects the revision the
 * previous one returned), many aggregates in parallel, beside plain nats.js `js.publish` with
 * `expect.lastSubjectSequence` at the same concurrency (and both again on a connection without
 * nats.js async traces); then `load` latency of a 1,000-event aggregate: cold with and without a
 * snapshot, and warm from the store's cache.
 */
const BENCH = 'event-store';
const AGGREGATES = 500;
const EVENTS_PER_AGGREGATE = 20;
const ROUNDS = 3;
const LOAD_EVENTS = 1000;
const LOADS = 50;
const COLD_LOADS = 30;
const SERIES_BUDGET_S = 10;
const SNAPSHOT_TAIL = 50;

const meta = { actor: 'service:bench', correlationId: 'bench-event-store' };

/** A reducer that touches every event, like a real evolve. */
const reducer = (name: string): Reducer<{ total: number; last?: string }> => ({
  name,
  initialState: () => ({ total: 0 }),
  evolve: (state, e: CloudEvent) => ({ total: state.total + (e.data as { n: number }).n, last: e.id }),
});

/** `aggregates` chains of `perAggregate` appends, all chains in flight at once. Returns appends/s. */
async function storeRound(store: EventStore, tag: string, aggregates: number, perAggregate: number): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: aggregates }, async (_, a) => {
      let revision: Revision = NO_STREAM;
      for (let k = 0; k < perAggregate; k++) {
        ({ revision } = await store.append('bench', `${tag}-${a}`, revision, [event(benchRecorded, { n: k, note: NOTE })], meta));
      }
    }),
  );
  return (aggregates * perAggregate) / secondsSince(start);
}

/** The same shape with plain nats.js: one publish per event, expecting the previous sequence. */
async function rawRound(js: JetStreamClient, tag: string, aggregates: number, perAggregate: number, payload: Uint8Array): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: aggregates }, async (_, a) => {
      let sequence = 0;
      for (let k = 0; k < perAggregate; k++) {
        sequence = (await js.publish(`evt.raw.${tag}-${a}`, payload, { expect: { lastSubjectSequence: sequence } })).seq;
      }
    }),
  );
  return (aggregates * perAggregate) / secondsSince(start);
}

export async function run(): Promise<void> {
  const env = benchEnv();
  const nc = await env.connect('admin', 'bench-event-store');
  const store = await EventStore.create(nc, { service: 'bench' });
  // The same user on a connection without nats.js async stack traces (each request otherwise
  // captures two Error stacks), to measure the change proposed for libs/messaging connectNats.
  const creds = await env.nats.creds('admin');
  const lean = await connect({
    servers: env.nats.url,
    name: 'bench-event-store-no-async-traces',
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    inboxPrefix: inboxPrefixFromCreds(creds),
    noAsyncTraces: true,
  });
  const leanStore = await EventStore.create(lean, { service: 'bench' });

  try {
    // The raw publisher sends bytes of the same size as the store's events.
    const sample = (await store.append('bench', 'sample', NO_STREAM, [event(benchRecorded, { n: 0, note: NOTE })], meta)).events[0].event;
    const payload = JSONCodec<CloudEvent>().encode(sample);

    const series = {
      store: { run: (tag: string) => storeRound(store, tag, AGGREGATES, EVENTS_PER_AGGREGATE), rates: [] as number[] },
      raw: { run: (tag: string) => rawRound(nc.jetstream(), tag, AGGREGATES, EVENTS_PER_AGGREGATE, payload), rates: [] as number[] },
      leanStore: { run: (tag: string) => storeRound(leanStore, tag, AGGREGATES, EVENTS_PER_AGGREGATE), rates: [] as number[] },
      leanRaw: { run: (tag: string) => rawRound(lean.jetstream(), tag, AGGREGATES, EVENTS_PER_AGGREGATE, payload), rates: [] as number[] },
    };
    // Warm-up: JIT, connection buffers, stream file blocks.
    for (const [name, s] of Object.entries(series)) await s.run(`w-${name}`).then(() => undefined);
    const order = Object.values(series);
    for (let r = 0; r < ROUNDS; r++) {
      // Rotate the order so no series always runs on the larger stream or right after another.
      for (let i = 0; i < order.length; i++) {
        const s = order[(i + r) % order.length];
        s.rates.push(await s.run(`r${r}-${(i + r) % order.length}`));
      }
    }

    conditions(BENCH, {
      'append workload': `${AGGREGATES} aggregates × ${EVENTS_PER_AGGREGATE} events per round, every aggregate a chain (expectedRevision = the previous append's revision), all ${AGGREGATES} chains in flight (concurrency ${AGGREGATES}), 1 event per append, ${ROUNDS} rounds per series in rotating order, median reported`,
      'event size': `${payload.length} bytes of CloudEvent JSON (+ Nats-Msg-Id and ce-* headers on the store side; raw sends the same bytes with only the expect header)`,
      connections:
        'store and raw share one connection made by libs/messaging connectNats (admin user); the "no async traces" series share a second connection with nats.js noAsyncTraces: true; stream EVENTS, file storage',
      'store rounds (appends/s)': series.store.rates.map((v) => fmt(v)).join(', '),
      'raw rounds (publishes/s)': series.raw.rates.map((v) => fmt(v)).join(', '),
      'store rounds, no async traces': series.leanStore.rates.map((v) => fmt(v)).join(', '),
      'raw rounds, no async traces': series.leanRaw.rates.map((v) => fmt(v)).join(', '),
    });
    record({
      bench: BENCH,
      name: 'append throughput (expectedRevision checked)',
      value: median(series.store.rates),
      unit: 'appends/s',
      target: { op: '>=', value: 10_000 },
      raw: { name: 'nats.js js.publish + expect.lastSubjectSequence', value: median(series.raw.rates), unit: 'publishes/s' },
    });
    record({
      bench: BENCH,
      name: 'append throughput, connection with noAsyncTraces (proposed)',
      value: median(series.leanStore.rates),
      unit: 'appends/s',
      target: { op: '>=', value: 10_000 },
      raw: { name: 'same js.publish, noAsyncTraces', value: median(series.leanRaw.rates), unit: 'publishes/s' },
    });

    await loadLatency(env, nc);
  } finally {
    await lean.close().catch(() => undefined);
  }
}

/**
 * load of one aggregate of 1,000 events. Cold loads use a fresh EventStore each (no in-memory
 * cache): full replay (snapshotEvery = ∞) and snapshot + tail. The snapshot sits at event 950, so
 * its loads read it and a 50-event tail, the mean tail with the default snapshotEvery of 100 (300
 * here only keeps load from rolling the snapshot forward to 1,000). Warm loads hit the store's
 * cache. Full replays run twice: as the minted users are, and as a user without response
 * permissions (see lib/creds.ts), each on its own connection.
 */
async function loadLatency(env: BenchEnv, nc: NatsConnection): Promise<void> {
  const plain = await EventStore.create(nc, { service: 'bench', snapshotEvery: Number.POSITIVE_INFINITY });
  const id = 'long';
  let revision: Revision = NO_STREAM;
  const append = async (count: number) => {
    for (let k = 0; k < count; k += 50) {
      const events = Array.from({ length: Math.min(50, count - k) }, (_, j) => event(benchRecorded, { n: k + j, note: NOTE }));
      ({ revision } = await plain.append('bench', id, revision, events, meta));
    }
  };
  await append(LOAD_EVENTS - SNAPSHOT_TAIL);
  await (await EventStore.create(nc, { service: 'bench', snapshotEvery: 300 })).load('bench', id, reducer('bench-snap')); // snapshot at 950
  await append(SNAPSHOT_TAIL);

  const minted = await env.connect('admin', 'bench-event-store-loads');
  const noResp = await connectWithoutResponsePermissions(env, 'admin');
  const cold = (conn: NatsConnection, snapshotEvery: number) => () => EventStore.create(conn, { service: 'bench', snapshotEvery });
  const series = [
    { name: 'warm (store cache hit)', store: () => Promise.resolve(plain), reducer: reducer('bench-full'), loads: LOADS },
    { name: `cold, snapshot + ${SNAPSHOT_TAIL}-event tail`, store: cold(minted, 300), reducer: reducer('bench-snap'), loads: COLD_LOADS },
    { name: 'cold, full replay', store: cold(minted, Number.POSITIVE_INFINITY), reducer: reducer('bench-full'), loads: COLD_LOADS },
    {
      name: 'cold, full replay, user without response permissions',
      store: cold(noResp, Number.POSITIVE_INFINITY),
      reducer: reducer('bench-full'),
      loads: COLD_LOADS,
    },
  ].map((s) => ({ ...s, latency: new Latency(), seconds: 0 }));
  const totals = new Set<number>();
  try {
    for (const s of series) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < s.loads + 5 && secondsSince(started) < SERIES_BUDGET_S; i++) {
        const store = await s.store();
        // The first 5 of each series warm up the JIT and are not recorded.
        const load = () => store.load('bench', id, s.reducer);
        const loaded = i < 5 ? await load() : await s.latency.time(load);
        if (loaded.revision.version !== LOAD_EVENTS) throw new Error(`bench: load saw version ${loaded.revision.version}`);
        totals.add(loaded.state.total);
      }
      s.seconds = secondsSince(started);
    }
  } finally {
    await noResp.close().catch(() => undefined);
  }
  if (totals.size !== 1) throw new Error('bench: loads disagree on the state');

  conditions(BENCH, {
    'load workload': `one aggregate of ${LOAD_EVENTS} events in a stream of ${fmt(await plain.lastSequence())} events; per series 5 warm-up loads then up to ${LOADS} (warm) or ${COLD_LOADS} (cold) sequential loads, each series capped at ${SERIES_BUDGET_S} s; reducer touches every event; cold series run on their own connection (admin user as minted, or the same permissions without response permissions)`,
    ...Object.fromEntries(
      series.map((s) => [
        `load, ${s.name}`,
        `${s.latency.summary()}${s.latency.count < s.loads ? ` — stopped at the ${SERIES_BUDGET_S} s cap` : ''}`,
      ]),
    ),
  });
  for (const s of series) {
    record({ bench: BENCH, name: `load ${LOAD_EVENTS} events, ${s.name}, p50`, value: s.latency.percentileMs(50), unit: 'ms' });
    record({ bench: BENCH, name: `load ${LOAD_EVENTS} events, ${s.name}, p99`, value: s.latency.percentileMs(99), unit: 'ms' });
  }
}
