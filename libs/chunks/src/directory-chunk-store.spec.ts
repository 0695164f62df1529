import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChunkCorruptedError, InvalidChunkHashError } from './chunk-store';
import { DirectoryChunkStore } from './directory-chunk-store';
import { CHUNK_MAX_SIZE } from './fastcdc';
import { collectGarbage } from './garbage-collection';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('DirectoryChunkStore', () => {
  let dir: string;
  let store: DirectoryChunkStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'encedeus-chunks-'));
    store = new DirectoryChunkStore(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('stores a chunk put twice once, under <dir>/<aa>/<hash>, and returns the same bytes', async () => {
    const data = randomBytes(10_000);
    const hash = sha256(data);

    await store.put(hash, data);
    await store.put(hash, data);

    expect(await store.stats()).toEqual({ chunks: 1, bytes: data.length });
    expect(readdirSync(join(dir, hash.slice(0, 2)))).toEqual([hash]);
    expect(await store.has(hash)).toBe(true);
    expect((await store.get(hash))!.equals(data)).toBe(true);
  });

  it('round-trips a 4 MiB chunk', async () => {
    const data = randomBytes(CHUNK_MAX_SIZE);
    const hash = sha256(data);

    await store.put(hash, data);

    expect((await store.get(hash))!.equals(data)).toBe(true);
  });

  it('answers undefined / false for a chunk it does not hold, also before the folder exists', async () => {
    const missing = new DirectoryChunkStore(join(dir, 'not-yet'));
    const hash = sha256(Buffer.from('nothing'));

    expect(await missing.has(hash)).toBe(false);
    expect(await missing.get(hash)).toBeUndefined();
    expect(await missing.delete(hash)).toBe(false);
    expect(await missing.stats()).toEqual({ chunks: 0, bytes: 0 });
  });

  it('forgets a deleted chunk', async () => {
    const data = randomBytes(100);
    const hash = sha256(data);
    await store.put(hash, data);

    expect(await store.delete(hash)).toBe(true);

    expect(await store.has(hash)).toBe(false);
    expect(await store.delete(hash)).toBe(false);
  });

  it('detects a stored file whose bytes do not match its hash', async () => {
    const data = randomBytes(100);
    const hash = sha256(data);
    await store.put(hash, data);
    writeFileSync(join(dir, hash.slice(0, 2), hash), Buffer.concat([data.subarray(0, 99), Buffer.from([data[99] ^ 1])]));

    await expect(store.get(hash)).rejects.toBeInstanceOf(ChunkCorruptedError);
  });

  it('rejects bytes that do not match their hash and keys that are not SHA-256 digests, writing nothing', async () => {
    const data = randomBytes(100);

    await expect(store.put(sha256(Buffer.from('other')), data)).rejects.toBeInstanceOf(ChunkCorruptedError);
    await expect(store.put(`../${'a'.repeat(61)}`, data)).rejects.toBeInstanceOf(InvalidChunkHashError);
    await expect(store.get('/etc/passwd')).rejects.toBeInstanceOf(InvalidChunkHashError);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('renews an existing chunk on put, so a collection with storedBefore spares it', async () => {
    const data = randomBytes(100);
    const hash = sha256(data);
    await store.put(hash, data);
    const path = join(dir, hash.slice(0, 2), hash);
    utimesSync(path, new Date(0), new Date(0));
    const [listed] = await all(store.list());
    expect(listed.storedAt.getTime()).toBe(0);

    await store.put(hash, data);

    expect(await store.delete(hash, { storedBefore: new Date(Date.now() - 60_000) })).toBe(false);
    expect((await store.get(hash))!.equals(data)).toBe(true);
    expect(readdirSync(join(dir, hash.slice(0, 2)))).toEqual([hash]);
  });

  it('collects unreferenced chunks older than the grace period, and only those', async () => {
    const chunks = [randomBytes(300), randomBytes(400), randomBytes(500)].map((data) => ({ data, hash: sha256(data) }));
    for (const c of chunks) await store.put(c.hash, c.data);
    const hour = 3600_000;

    const young = await collectGarbage(store, new Set([chunks[0].hash]), { graceMs: hour });
    const aged = await collectGarbage(store, new Set([chunks[0].hash]), { graceMs: hour, now: new Date(Date.now() + 2 * hour) });

    expect(young).toEqual({ examined: 3, deleted: 0, freedBytes: 0 });
    expect(aged).toEqual({ examined: 3, deleted: 2, freedBytes: 900 });
    expect(await store.stats()).toEqual({ chunks: 1, bytes: 300 });
  });

  it('cleans up after a crash when it lists: removes partial writes, puts back chunks a delete had moved aside', async () => {
    const data = randomBytes(100);
    const hash = sha256(data);
    await store.put(hash, data);
    const folder = join(dir, hash.slice(0, 2));
    renameSync(join(folder, hash), join(folder, `.gc-${hash}-0a1b`));
    writeFileSync(join(folder, `.tmp-${hash}-2c3d`), 'partial');
    const fresh = await all(store.list());
    expect(fresh).toEqual([]);

    const recovered = await all(new DirectoryChunkStore(dir, { leftoverAgeMs: 0 }).list());

    expect(recovered.map((c) => c.hash)).toEqual([hash]);
    expect(readdirSync(folder)).toEqual([hash]);
    expect((await store.get(hash))!.equals(data)).toBe(true);
  });

  it('lists only chunk files, not temporary or foreign ones', async () => {
    const data = randomBytes(100);
    const hash = sha256(data);
    await store.put(hash, data);
    writeFileSync(join(dir, hash.slice(0, 2), `.tmp-${hash}-abc`), 'partial');
    writeFileSync(join(dir, 'README'), 'not a chunk');

    expect((await all(store.list())).map((c) => c.hash)).toEqual([hash]);
  });
});

async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}
