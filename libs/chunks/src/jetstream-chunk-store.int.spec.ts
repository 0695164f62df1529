import { createHash, randomBytes } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { STREAMS } from '@encedeus/contracts';
import { connectNats } from '@encedeus/messaging';
import { startNats, type NatsHandle } from '@encedeus/testing';
import { ChunkCorruptedError, InvalidChunkHashError } from './chunk-store';
import { CHUNK_MAX_SIZE } from './fastcdc';
import { collectGarbage } from './garbage-collection';
import { JetStreamChunkStore } from './jetstream-chunk-store';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('JetStreamChunkStore', () => {
  let nats: NatsHandle;
  let nc: NatsConnection;
  let store: JetStreamChunkStore;
  const connections: NatsConnection[] = [];

  const connectAs = async (user: 'files' | 'plugins' | 'admin') => {
    const { nc: connection } = await connectNats({ servers: nats.url, creds: await nats.creds(user), name: `chunks-test-${user}` });
    connections.push(connection);
    return connection;
  };

  beforeAll(async () => {
    nats = await startNats();
    // The files service's own NATS user: the test also proves its permissions suffice.
    nc = await connectAs('files');
    store = await JetStreamChunkStore.open(nc);
  });
  afterAll(async () => {
    await Promise.all(connections.map((c) => c.close().catch(() => undefined)));
    await nats.stop();
  });

  it('stores a chunk put twice once, and returns the same bytes', async () => {
    const data = randomBytes(300_000);
    const hash = sha256(data);
    const before = await store.stats();

    await store.put(hash, data);
    await store.put(hash, data);

    const after = await store.stats();
    expect(after.chunks - before.chunks).toBe(1);
    expect(after.bytes - before.bytes).toBeLessThan(data.length + 1024);
    expect(await store.has(hash)).toBe(true);
    expect((await store.get(hash))!.equals(data)).toBe(true);
  });

  it('keeps one copy when the same chunk is put again after the de-duplication window (max_msgs_per_subject 1)', async () => {
    const data = randomBytes(1000);
    const hash = sha256(data);
    const jsm = await (await connectAs('admin')).jetstreamManager();
    await store.put(hash, data);
    const first = await jsm.streams.getMessage(STREAMS.chunks, { last_by_subj: `chunk.${hash}` });

    // A different Nats-Msg-Id stands in for a put after the window: it is not de-duplicated.
    await nc.jetstream().publish(`chunk.${hash}`, data, { msgID: `${hash}-later` });

    const info = await jsm.streams.info(STREAMS.chunks, { subjects_filter: `chunk.${hash}` });
    expect(info.state.subjects?.[`chunk.${hash}`]).toBe(1);
    const second = await jsm.streams.getMessage(STREAMS.chunks, { last_by_subj: `chunk.${hash}` });
    expect(second.seq).toBeGreaterThan(first.seq);
    expect((await store.get(hash))!.equals(data)).toBe(true);
  });

  it('round-trips a 4 MiB chunk', async () => {
    const data = randomBytes(CHUNK_MAX_SIZE);
    const hash = sha256(data);

    await store.put(hash, data);

    expect((await store.get(hash))!.equals(data)).toBe(true);
  });

  it('answers undefined / false for a chunk it does not hold', async () => {
    const hash = sha256(Buffer.from('never stored'));

    expect(await store.has(hash)).toBe(false);
    expect(await store.get(hash)).toBeUndefined();
    expect(await store.delete(hash)).toBe(false);
  });

  it('forgets a deleted chunk', async () => {
    const data = randomBytes(5000);
    const hash = sha256(data);
    await store.put(hash, data);

    expect(await store.delete(hash)).toBe(true);

    expect(await store.has(hash)).toBe(false);
    expect(await store.get(hash)).toBeUndefined();
  });

  it('deletes with storedBefore only a copy older than that', async () => {
    const data = randomBytes(5000);
    const hash = sha256(data);
    await store.put(hash, data);

    expect(await store.delete(hash, { storedBefore: new Date(Date.now() - 60_000) })).toBe(false);
    expect(await store.has(hash)).toBe(true);
    expect(await store.delete(hash, { storedBefore: new Date(Date.now() + 1000) })).toBe(true);
    expect(await store.has(hash)).toBe(false);
  });

  it('spares a chunk put again after the collector listed it (delete by listed revision)', async () => {
    const data = randomBytes(5000);
    const hash = sha256(data);
    await store.put(hash, data);
    let listed;
    for await (const chunk of store.list()) if (chunk.hash === hash) listed = chunk;
    // A put after the window (another Nats-Msg-Id, see above) renews the chunk with a new message.
    await nc.jetstream().publish(`chunk.${hash}`, data, { msgID: `${hash}-renewed` });

    expect(await store.delete(hash, { revision: listed!.revision })).toBe(false);

    expect((await store.get(hash))!.equals(data)).toBe(true);
  });

  it('rejects bytes that do not match their hash, and keys that are not SHA-256 digests', async () => {
    const data = randomBytes(100);

    await expect(store.put(sha256(Buffer.from('other')), data)).rejects.toBeInstanceOf(ChunkCorruptedError);
    await expect(store.get('../../etc/passwd')).rejects.toBeInstanceOf(InvalidChunkHashError);
    await expect(store.has('A'.repeat(64))).rejects.toBeInstanceOf(InvalidChunkHashError);
    await expect(store.put('*', data)).rejects.toBeInstanceOf(InvalidChunkHashError);
  });

  it('detects a chunk whose stored bytes do not hash to its subject', async () => {
    const hash = sha256(Buffer.from('the real bytes'));
    // Only a user that bypasses the store (here the admin tooling user) can write this.
    await (await connectAs('admin')).jetstream().publish(`chunk.${hash}`, Buffer.from('forged bytes'));

    await expect(store.get(hash)).rejects.toBeInstanceOf(ChunkCorruptedError);
  });

  it('lists every chunk with its size and time, without their bytes', async () => {
    const data = randomBytes(70_000);
    const hash = sha256(data);
    const start = Date.now();
    await store.put(hash, data);

    const listed = [];
    for await (const chunk of store.list()) listed.push(chunk);

    const mine = listed.find((c) => c.hash === hash)!;
    expect(mine.size).toBe(data.length);
    expect(mine.storedAt.getTime()).toBeGreaterThanOrEqual(start - 1000);
    expect(listed).toHaveLength((await store.stats()).chunks);
  });

  it('collects unreferenced chunks older than the grace period, and only those', async () => {
    const old = [randomBytes(2000), randomBytes(2000), randomBytes(2000)].map((data) => ({ data, hash: sha256(data) }));
    for (const c of old) await store.put(c.hash, c.data);
    const live = new Set([old[0].hash]);
    const future = new Date(Date.now() + 10 * 60_000);
    const everythingElse = new Set<string>();
    for await (const c of store.list()) if (!old.some((o) => o.hash === c.hash)) everythingElse.add(c.hash);

    const young = await collectGarbage(store, new Set([...live, ...everythingElse]), { graceMs: store.minGraceMs });
    const aged = await collectGarbage(store, new Set([...live, ...everythingElse]), { graceMs: store.minGraceMs, now: future });

    expect(young.deleted).toBe(0);
    expect(aged.deleted).toBe(2);
    expect(aged.freedBytes).toBe(4000);
    expect(await store.has(old[0].hash)).toBe(true);
    expect(await store.has(old[1].hash)).toBe(false);
    expect(await store.has(old[2].hash)).toBe(false);
    await expect(collectGarbage(store, live, { graceMs: 1000 })).rejects.toThrow(RangeError);
  });

  it('lets no other service read chunks (plugins user)', async () => {
    const data = randomBytes(100);
    const hash = sha256(data);
    await store.put(hash, data);
    const plugins = await connectAs('plugins');

    const jsm = await plugins.jetstreamManager();
    // nats.js has jsm.direct at run time, not in its exported type.
    const direct = (jsm as unknown as { direct: { getMessage(stream: string, query: object): Promise<unknown> } }).direct;

    await expect(direct.getMessage(STREAMS.chunks, { last_by_subj: `chunk.${hash}` })).rejects.toThrow();
    await expect(jsm.streams.getMessage(STREAMS.chunks, { last_by_subj: `chunk.${hash}` })).rejects.toThrow();
    await expect(plugins.jetstream().publish(`chunk.${hash}`, Buffer.from('x'))).rejects.toThrow();
  });
});
