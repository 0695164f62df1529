import { createHash, randomBytes } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { STREAMS } from '@encedeus/contracts';
import { connectNats } from '@encedeus/messaging';
import { startNatsCluster, type NatsClusterHandle } from '@encedeus/testing';
import { JetStreamChunkStore } from './jetstream-chunk-store';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Retries `fn` until it resolves (a stream may have no leader for a moment after a member dies). */
async function eventually<T>(what: string, fn: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: error });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('JetStreamChunkStore on a 3-node NATS cluster', () => {
  let cluster: NatsClusterHandle;
  const connections: NatsConnection[] = [];

  const connectTo = async (member: number) => {
    const { nc } = await connectNats({ servers: [cluster.urls[member]], creds: await cluster.creds('files'), name: `chunks-cluster-${member}`, reconnectTimeWaitMs: 100 });
    connections.push(nc);
    return nc;
  };

  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3 });
  });
  afterAll(async () => {
    await Promise.all(connections.map((c) => c.close().catch(() => undefined)));
    await cluster?.stop();
  });

  it('replicates chunks: read at once through another member, and still there after the stream leader dies', async () => {
    const writer = await JetStreamChunkStore.open(await connectTo(0), { replicas: 3 });
    const info = await (await connections[0].jetstreamManager()).streams.info(STREAMS.chunks);
    expect(info.config.num_replicas).toBe(3);
    const leader = cluster.names.indexOf(info.cluster!.leader!);
    const survivor = [0, 1, 2].find((m) => m !== leader)!;
    const reader = await JetStreamChunkStore.open(await connectTo(survivor));
    const chunks = Array.from({ length: 12 }, (_, k) => randomBytes(k === 0 ? 4 * 1024 * 1024 : 50_000 + k));

    for (const data of chunks) {
      await writer.put(sha256(data), data);
      expect((await reader.get(sha256(data)))!.equals(data)).toBe(true);
    }
    await cluster.kill(leader);

    for (const data of chunks) {
      const read = await eventually('a read after the leader died', () => reader.get(sha256(data)));
      expect(read!.equals(data)).toBe(true);
    }
    // The new leader's stream info can count what it has applied so far (the fresh-clone CI of
    // 2026-12-02 read 1 of 12 while every chunk already read back): wait until it counts them all.
    const stats = await eventually('a new stream leader counting every chunk', async () => {
      const now = await reader.stats();
      if (now.chunks !== chunks.length) throw new Error(`the stream counts ${now.chunks} chunks`);
      return now;
    });
    expect(stats.chunks).toBe(chunks.length);
  });
});
