import { JSONCodec, type JetStreamClient, type NatsConnection } from 'nats';
import { event, STREAMS, type CloudEvent } from '@encedeus/contracts';
import { connectNats, ensureStreams, EventStore, NO_STREAM, type Revision } from '@encedeus/messaging';
import { startNatsCluster } from '@encedeus/testing';
import { conditions, fmt, Latency, median, record, secondsSince } from './lib/harness';
import { benchRecorded, NOTE } from './lib/events';

/**
 * EventStore.append on a 3-node nats-server cluster (libs/testing startNatsCluster, all on this
 * machine), with the EVENTS stream at R1 and at R3 in the same run: throughput of many aggregates in
 * parallel (each append expects the previous revision) and the latency of one append at a time,
 * beside plain nats.js `js.publish` with `expect.lastSubjectSequence` on the same stream. The stream
 * is deleted and created again between the two replica counts. The single nats-server that
 * bench/run.ts provides is not used.
 */
const BENCH = 'event-store-cluster';
const AGGREGATES = 200;
const EVENTS_PER_AGGREGATE = 10;
const ROUNDS = 3;
const SEQUENTIAL = 500;

const meta = { actor: 'service:bench', correlationId: 'bench-event-store-cluster' };

async function storeRound(store: EventStore, tag: string): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: AGGREGATES }, async (_, a) => {
      let revision: Revision = NO_STREAM;
      for (let k = 0; k < EVENTS_PER_AGGREGATE; k++) {
        ({ revision } = await store.append('bench', `${tag}-${a}`, revision, [event(benchRecorded, { n: k, note: NOTE })], meta));
      }
    }),
  );
  return (AGGREGATES * EVENTS_PER_AGGREGATE) / secondsSince(start);
}

async function rawRound(js: JetStreamClient, tag: string, payload: Uint8Array): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: AGGREGATES }, async (_, a) => {
      let sequence = 0;
      for (let k = 0; k < EVENTS_PER_AGGREGATE; k++) {
        sequence = (await js.publish(`evt.raw.${tag}-${a}`, payload, { expect: { lastSubjectSequence: sequence } })).seq;
      }
    }),
  );
  return (AGGREGATES * EVENTS_PER_AGGREGATE) / secondsSince(start);
}

interface Series {
  replicas: number;
  leader: string;
  store: number[];
  raw: number[];
  sequential: Latency;
}

async function measure(nc: NatsConnection, replicas: number): Promise<Series> {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(STREAMS.events).catch(() => undefined);
  await ensureStreams(jsm, [STREAMS.events], { replicas });
  const info = await jsm.streams.info(STREAMS.events);
  if (info.config.num_replicas !== replicas) throw new Error(`bench: EVENTS has ${info.config.num_replicas} replicas, wanted ${replicas}`);
  const store = await EventStore.create(nc, { service: 'bench' });
  const sample = (await store.append('bench', `sample-r${replicas}`, NO_STREAM, [event(benchRecorded, { n: 0, note: NOTE })], meta)).events[0].event;
  const payload = JSONCodec<CloudEvent>().encode(sample);
  const js = nc.jetstream();
  await storeRound(store, `w-r${replicas}`);
  await rawRound(js, `w-r${replicas}`, payload);
  const series: Series = { replicas, leader: (await jsm.streams.info(STREAMS.events)).cluster?.leader ?? '?', store: [], raw: [], sequential: new Latency() };
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which goes first so neither always runs on the larger stream.
    if (r % 2 === 0) {
      series.store.push(await storeRound(store, `s${r}-r${replicas}`));
      series.raw.push(await rawRound(js, `s${r}-r${replicas}`, payload));
    } else {
      series.raw.push(await rawRound(js, `s${r}-r${replicas}`, payload));
      series.store.push(await storeRound(store, `s${r}-r${replicas}`));
    }
  }
  let revision: Revision = NO_STREAM;
  for (let i = 0; i < SEQUENTIAL + 50; i++) {
    const append = () => store.append('bench', `seq-r${replicas}`, revision, [event(benchRecorded, { n: i, note: NOTE })], meta);
    ({ revision } = i < 50 ? await append() : await series.sequential.time(append));
  }
  return series;
}

export async function run(): Promise<void> {
  const cluster = await startNatsCluster({ size: 3 });
  let nc: NatsConnection | undefined;
  try {
    ({ nc } = await connectNats({ servers: cluster.urls, creds: await cluster.creds('admin'), name: 'bench-event-store-cluster' }));
    const r1 = await measure(nc, 1);
    const r3 = await measure(nc, 3);

    conditions(BENCH, {
      cluster: `3 nats-servers (startNatsCluster, operator mode, JetStream file store) on this machine's loopback; one client connection (libs/messaging connectNats, admin user) to the cluster URLs; stream EVENTS deleted and created again with num_replicas 1, then 3`,
      'append workload': `${AGGREGATES} aggregates × ${EVENTS_PER_AGGREGATE} events per round, each aggregate a chain (expectedRevision = the previous revision), all chains in flight, 1 event per append, ${ROUNDS} rounds per series after one warm-up, median reported; sequential: ${SEQUENTIAL} appends to one aggregate, one in flight, after 50 warm-up`,
      ...Object.fromEntries(
        [r1, r3].flatMap((s) => [
          [`R${s.replicas} (stream leader ${s.leader}) store rounds (appends/s)`, s.store.map((v) => fmt(v)).join(', ')],
          [`R${s.replicas} raw rounds (publishes/s)`, s.raw.map((v) => fmt(v)).join(', ')],
          [`R${s.replicas} sequential append`, s.sequential.summary()],
        ]),
      ),
    });
    for (const s of [r1, r3]) {
      record({
        bench: BENCH,
        name: `append throughput on a 3-node cluster, EVENTS R${s.replicas}`,
        value: median(s.store),
        unit: 'appends/s',
        raw: { name: `js.publish + expect, R${s.replicas}`, value: median(s.raw), unit: 'publishes/s' },
      });
    }
    for (const s of [r1, r3]) {
      record({
        bench: BENCH,
        name: `one append at a time on a 3-node cluster, EVENTS R${s.replicas}, p50`,
        value: s.sequential.percentileMs(50),
        unit: 'ms',
        note: `p99 ${s.sequential.percentileMs(99).toFixed(2)} ms`,
      });
    }
    record({
      bench: BENCH,
      name: 'append throughput R3 / R1 (same run)',
      value: (median(r3.store) / median(r1.store)) * 100,
      unit: '%',
      note: `raw js.publish R3 / R1: ${((median(r3.raw) / median(r1.raw)) * 100).toFixed(0)} %`,
    });
  } finally {
    await nc?.close().catch(() => undefined);
    await cluster.stop();
  }
}
