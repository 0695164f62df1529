import { randomUUID } from 'node:crypto';
import { connect, credsAuthenticator, JSONCodec, type NatsConnection } from 'nats';
import type { NodeUsageSample } from '@encedeus/contracts';
import { ensureStreams, inboxPrefixFromCreds } from '@encedeus/messaging';
import { startNats, type NatsHandle } from '@encedeus/testing';
import { UsageHistoryReader } from './usage-history';

const codec = JSONCodec<NodeUsageSample>();
const sample = (nodeId: string, at: number, cpu: number): NodeUsageSample => ({
  node_id: nodeId,
  at,
  cpu_percent: cpu,
  load: [cpu / 100, 0, 0],
  memory_used: cpu * 1000,
  memory_total: 100_000,
  disk_used: 10,
  disk_total: 100,
  net_rx: 0,
  net_tx: 0,
  servers: [],
});

describe('UsageHistoryReader (real JetStream)', () => {
  let nats: NatsHandle;
  let nc: NatsConnection;
  let admin: NatsConnection;

  beforeAll(async () => {
    nats = await startNats();
    const as = async (user: 'nodes' | 'admin') => {
      const creds = await nats.creds(user);
      return connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), inboxPrefix: inboxPrefixFromCreds(creds) });
    };
    nc = await as('nodes'); // the reader runs with the nodes service's permissions
    admin = await as('admin'); // stands in for agents publishing samples
    await ensureStreams(await nc.jetstreamManager());
  });
  afterAll(async () => {
    await nc?.close();
    await admin?.close();
    await nats?.stop();
  });

  it('averages the samples of one node per bucket, oldest first, and ignores other nodes', async () => {
    const nodeId = randomUUID();
    const now = Date.now();
    const js = admin.jetstream();
    // Two samples in one 15 s bucket, one in a later bucket, one outside the hour, one of another node.
    await js.publish(`tel.${nodeId}.usage`, codec.encode(sample(nodeId, now - 2 * 3600_000, 99)));
    await js.publish(`tel.${nodeId}.usage`, codec.encode(sample(nodeId, now - 30 * 60_000 - 5000, 10)));
    await js.publish(`tel.${nodeId}.usage`, codec.encode(sample(nodeId, now - 30 * 60_000 - 2000, 30)));
    await js.publish(`tel.${nodeId}.usage`, codec.encode(sample(nodeId, now - 1000, 50)));
    await js.publish(`tel.${randomUUID()}.usage`, codec.encode(sample('other', now - 1000, 77)));

    const history = await new UsageHistoryReader(nc).read(nodeId, '1h', now);

    expect(history).toMatchObject({ node_id: nodeId, range: '1h', bucket_s: 15 });
    expect(history.items.map((u) => u.cpu_percent)).toEqual([20, 50]);
    expect(history.items[0]).toMatchObject({ node_id: nodeId, memory_usage: 20_000, memory_limit: 100_000 });
    expect(Date.parse(history.items[0].at)).toBeLessThan(Date.parse(history.items[1].at));
  });

  it('answers an empty history for a node without samples', async () => {
    const history = await new UsageHistoryReader(nc).read(randomUUID(), '24h');

    expect(history.items).toEqual([]);
    expect(history.bucket_s).toBe(360);
  });
});
