import { createHash, randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { ChunkStore } from './chunk-store';
import { putStream } from './chunked-file';
import { cutInWorker } from './chunk-worker';
import { chunkBuffer } from './fastcdc';

async function* pieces(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < data.length; o += size) yield data.subarray(o, o + size);
}

describe('cutInWorker', () => {
  it('cuts exactly as chunkBuffer does, and hashes the whole input', async () => {
    const data = randomBytes(12 * 1024 * 1024 + 12345);
    const cut = cutInWorker(pieces(data, 64 * 1024));
    const got = [];
    for await (const chunk of cut.chunks) got.push(chunk);
    const expected = chunkBuffer(data);
    expect(got.map((c) => [c.hash, c.size])).toEqual(expected.map((c) => [c.hash, c.size]));
    expect(Buffer.concat(got.map((c) => c.data)).equals(data)).toBe(true);
    expect(await cut.done).toEqual({ sha256: createHash('sha256').update(data).digest('hex'), size: data.length });
  });

  it('runs several cuts at once on the one worker, each with its own bytes', async () => {
    const inputs = [randomBytes(3 * 1024 * 1024), randomBytes(5 * 1024 * 1024), Buffer.alloc(0), randomBytes(100)];
    const results = await Promise.all(
      inputs.map(async (data) => {
        const cut = cutInWorker(pieces(data, 100_000));
        const hashes = [];
        for await (const chunk of cut.chunks) hashes.push(chunk.hash);
        return { hashes, done: await cut.done };
      }),
    );
    results.forEach((r, k) => {
      expect(r.hashes).toEqual(chunkBuffer(inputs[k]).map((c) => c.hash));
      expect(r.done.sha256).toBe(createHash('sha256').update(inputs[k]).digest('hex'));
    });
  });

  it('a failing source fails the cut; a consumer that stops early ends it', async () => {
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield randomBytes(2 * 1024 * 1024);
      throw new Error('source broke');
    }
    const failing = cutInWorker(broken());
    await expect((async () => {
      for await (const _ of failing.chunks) void _;
    })()).rejects.toThrow('source broke');
    await expect(failing.done).rejects.toThrow('source broke');

    const early = cutInWorker(pieces(randomBytes(20 * 1024 * 1024), 256 * 1024));
    for await (const _ of early.chunks) break;
    await expect(early.done).rejects.toThrow();
    // The worker still serves the next cut.
    const next = cutInWorker(pieces(Buffer.from('after'), 10));
    for await (const _ of next.chunks) void _;
    expect((await next.done).size).toBe(5);
  });

  it('putStream with worker: true reads a stream as an upload gives it (onProgress and all) and stores what it cut', async () => {
    const stored = new Map<string, Uint8Array>();
    const store = { put: async (hash: string, data: Uint8Array) => void stored.set(hash, data) } as unknown as ChunkStore;
    const data = randomBytes(10 * 1024 * 1024);
    const stream = new PassThrough();
    void (async () => {
      for (let o = 0; o < data.length; o += 65536) if (!stream.write(data.subarray(o, o + 65536))) await new Promise((r) => stream.once('drain', r));
      stream.end();
    })();
    let progress = 0;
    const file = await putStream(store, stream, { worker: true, onProgress: (read) => (progress = read) });
    expect(file).toMatchObject({ size: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    expect(progress).toBe(data.length);
    expect(Buffer.concat(file.chunks.map((c) => stored.get(c.hash)!)).equals(data)).toBe(true);
  });
});
