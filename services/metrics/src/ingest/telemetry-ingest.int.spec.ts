import { randomUUID } from 'node:crypto';
import { JSONCodec, type NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { ensureStreams } from '@encedeus/messaging';
import { startTestEnv, type TestEnv } from '@encedeus/testing';
import { MetricsStore, SCHEMA } from '../storage/metrics-store';
import { ROLLUPS } from '../storage/rollups';
import { TelemetryIngest } from './telemetry-ingest';
import { expectSameRollups } from '../storage/rollup-expectations';

const json = JSONCodec<unknown>();
const HOUR = 3600_000;


describe('TelemetryIngest (real JetStream and Postgres)', () => {
  let env: TestEnv;
  let db: DataSource;
  let store: MetricsStore;
  let metricsNc: NatsConnection;
  let agentNc: NatsConnection;
  const nodeId = randomUUID();
  const serverId = randomUUID();
  let ingest: TelemetryIngest | undefined;

  beforeAll(async () => {
    env = await startTestEnv();
    db = await new DataSource({ type: 'postgres', url: env.db.url }).initialize();
    store = new MetricsStore(db);
    await store.migrate();
    metricsNc = await env.connect('metrics'); // the service's own narrow NATS user
    agentNc = await env.connect('admin'); // stands in for an agent publishing samples
    await ensureStreams(await agentNc.jetstreamManager());
  }, 60_000);
  afterAll(async () => {
    await ingest?.stop();
    await db?.destroy();
    await env?.stop();
  });

  /** Publishes `count` node and server samples spread over the last four minutes; resolves the last stream sequence. */
  async function publish(count: number): Promise<number> {
    const js = agentNc.jetstream();
    const now = Date.now();
    let seq = 0;
    for (let i = 0; i < count; i++) {
      const at = now - 240_000 + Math.floor((i * 240_000) / count);
      const cpu = (i * 7.3) % 100;
      await js.publish(`tel.${nodeId}.usage`, json.encode({ node_id: nodeId, at, cpu_percent: cpu, memory_used: 1000 + i, memory_total: 8000, disk_used: 5, disk_total: 10, net_rx: i, net_tx: 2 * i, load: [0.5, 0.4, 0.3], servers: [] }));
      seq = (await js.publish(`tel.${nodeId}.${serverId}.usage`, json.encode({ server_id: serverId, at, cpu_percent: cpu / 2, memory_bytes: 512 + i, memory_limit_bytes: 4096, disk_bytes: 9, uptime_ms: i }))).seq;
    }
    return seq;
  }

  it('writes samples and rollups that equal the rollups rebuilt from the raw samples, across batches and a restart', async () => {
    ingest = new TelemetryIngest(metricsNc, store, { batchSize: 17 });
    await ingest.start();
    const first = await publish(60);
    expect(await ingest.waitFor(first, 30_000)).toBe(true);

    // A restart in the middle: the new instance resumes at the checkpoint and counts nothing twice.
    await ingest.stop();
    const second = await publish(40);
    ingest = new TelemetryIngest(metricsNc, store, { batchSize: 17 });
    await ingest.start();
    expect(await ingest.waitFor(second, 30_000)).toBe(true);

    const [{ n }] = await db.query(`select count(*)::int as n from ${SCHEMA}.samples`);
    expect(n).toBe(200);
    const from = Math.floor((Date.now() - 2 * HOUR) / HOUR) * HOUR;
    const to = from + 4 * HOUR;
    // Nothing is rolled up at write time (the samples are newer than the watermarks); a pass with
    // `now` past them rolls every sample up.
    await store.rollUp(to + 10_000);
    for (const rollup of ROLLUPS) {
      const stored = await store.storedRollups(rollup, from, to);
      const rebuilt = await store.rollupsFromRaw(rollup, from, to);
      expect(stored.reduce((sum, r) => sum + r.n, 0)).toBe(200);
      expectSameRollups(stored, rebuilt);
    }
  }, 90_000);

  it('reads averages per step from raw samples and from rollups alike', async () => {
    const now = Date.now();
    const raw = await store.read(`server:${serverId}`, nodeId, now - HOUR, now + 1000, 3600, 'raw');
    const minute = await store.read(`server:${serverId}`, nodeId, now - HOUR, now + 1000, 3600, '1m');
    const otherNode = await store.read(`server:${serverId}`, randomUUID(), now - HOUR, now + 1000, 3600, 'raw');

    expect(raw.reduce((sum, p) => sum + p.n, 0)).toBe(100);
    expect(minute.map((p) => p.n)).toEqual(raw.map((p) => p.n));
    minute.forEach((p, i) => p.values.forEach((v, f) => (v === null ? expect(raw[i].values[f]).toBeNull() : expect(v).toBeCloseTo(raw[i].values[f]!, 6))));
    expect(otherNode).toEqual([]);
  });

  it('drops whole partitions past their retention and keeps the others', async () => {
    const now = Date.now();
    await store.ensurePartitions([now - 3 * 24 * HOUR]);
    const partitions = async () => (await db.query(`select tablename from pg_tables where schemaname = $1`, [SCHEMA])).map((r: { tablename: string }) => r.tablename as string);
    const day = new Date(now - 3 * 24 * HOUR).toISOString().slice(0, 10).replace(/-/g, '');
    expect(await partitions()).toEqual(expect.arrayContaining([`samples_d${day}`, `rollup_1m_d${day}`]));

    const dropped = await store.dropExpired(now);

    expect(dropped).toContain(`samples_d${day}`);
    expect(await partitions()).not.toContain(`samples_d${day}`);
    expect(await partitions()).toContain(`rollup_1m_d${day}`);
  });
});
