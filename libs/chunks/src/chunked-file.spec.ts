import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ChunkStore, StoredChunk } from './chunk-store';
import { ChunkMissingError, putStream, readChunks } from './chunked-file';

const SMALL = { minSize: 1024, avgSize: 4096, maxSize: 16384 };

/** Reproducible pseudo-random bytes. */
function bytes(length: number, seed = 'file'): Buffer {
  const out = Buffer.alloc(length);
  for (let offset = 0, n = 0; offset < length; n++) offset += createHash('sha256').update(`${seed}/${n}`).digest().copy(out, offset);
  return out;
}

/** An in-memory store that counts puts in flight and can be told to fail. */
class MemoryStore implements ChunkStore {
  readonly chunks = new Map<string, Buffer>();
  inFlight = 0;
  maxInFlight = 0;
  puts = 0;
  failAfter = Infinity;

  async has(hash: string) {
    return this.chunks.has(hash);
  }
  async put(hash: string, data: Uint8Array) {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 1));
    this.inFlight--;
    if (++this.puts > this.failAfter) throw new Error('disk full');
    this.chunks.set(hash, Buffer.from(data));
  }
  async get(hash: string) {
    return this.chunks.get(hash);
  }
  async delete(hash: string) {
    return this.chunks.delete(hash);
  }
  async stats() {
    return { chunks: this.chunks.size, bytes: [...this.chunks.values()].reduce((n, b) => n + b.length, 0) };
  }
  async *list(): AsyncGenerator<StoredChunk> {
    for (const [hash, data] of this.chunks) yield { hash, size: data.length, storedAt: new Date() };
  }
}

function pieces(data: Buffer, size: number): Buffer[] {
  return Array.from({ length: Math.ceil(data.length / size) }, (_, k) => data.subarray(k * size, (k + 1) * size));
}

async function concat(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of source) out.push(b);
  return Buffer.concat(out);
}

describe('putStream / readChunks', () => {
  const file = bytes(1_000_000);

  it('stores a stream as chunks and reads back the same bytes, size and SHA-256', async () => {
    const store = new MemoryStore();

    const stored = await putStream(store, Readable.from(pieces(file, 10_000)), SMALL);

    expect(stored.size).toBe(file.length);
    expect(stored.sha256).toBe(createHash('sha256').update(file).digest('hex'));
    expect(stored.chunks.length).toBeGreaterThan(1);
    expect(stored.chunks.reduce((n, c) => n + c.size, 0)).toBe(file.length);
    expect((await concat(readChunks(store, stored.chunks))).equals(file)).toBe(true);
  });

  it('keeps at most `concurrency` puts in flight', async () => {
    const store = new MemoryStore();

    await putStream(store, Readable.from(pieces(file, 10_000)), { ...SMALL, concurrency: 3 });

    expect(store.maxInFlight).toBe(3);
  });

  it('stores a repeated chunk once but lists it every time', async () => {
    const store = new MemoryStore();
    const part = bytes(32768, 'part');

    const stored = await putStream(store, Readable.from([part, part, part]), { minSize: 32768, avgSize: 32768, maxSize: 32768 });

    expect(stored.chunks.map((c) => c.size)).toEqual([32768, 32768, 32768]);
    expect(store.chunks.size).toBe(1);
  });

  it('rejects when a put fails, stops reading the source, and waits for the puts in flight', async () => {
    const store = new MemoryStore();
    store.failAfter = 2;
    let read = 0;
    async function* source() {
      for (const piece of pieces(file, 10_000)) {
        read++;
        yield piece;
      }
    }

    await expect(putStream(store, source(), { ...SMALL, concurrency: 2 })).rejects.toThrow('disk full');

    expect(store.inFlight).toBe(0);
    expect(read).toBeLessThan(20);
  });

  it('rejects when onProgress throws (a quota check)', async () => {
    const store = new MemoryStore();
    const quota = 300_000;

    const put = putStream(store, Readable.from(pieces(file, 10_000)), {
      ...SMALL,
      onProgress: (n) => {
        if (n > quota) throw new Error('over quota');
      },
    });

    await expect(put).rejects.toThrow('over quota');
    expect(store.inFlight).toBe(0);
  });

  it('reads a byte range across chunk boundaries (inclusive end, like HTTP Range)', async () => {
    const store = new MemoryStore();
    const { chunks } = await putStream(store, Readable.from([file]), SMALL);
    const firstEnd = chunks[0].size;

    for (const [start, end] of [[0, 0], [firstEnd - 1, firstEnd], [firstEnd, firstEnd], [12_345, 654_321], [file.length - 1, file.length - 1], [500_000, file.length + 100]]) {
      const read = await concat(readChunks(store, chunks, { start, end }));
      expect(read.equals(file.subarray(start, end + 1))).toBe(true);
    }
    expect((await concat(readChunks(store, chunks, { start: file.length }))).length).toBe(0);
  });

  it('throws ChunkMissingError for a chunk the store lost', async () => {
    const store = new MemoryStore();
    const { chunks } = await putStream(store, Readable.from([file]), SMALL);
    store.chunks.delete(chunks[2].hash);

    await expect(concat(readChunks(store, chunks))).rejects.toBeInstanceOf(ChunkMissingError);
  });

  it('keeps memory flat for a file far larger than what it may hold (256 MiB through default chunk sizes)', async () => {
    const MiB = 1024 * 1024;
    const total = 256 * MiB;
    let stored = 0;
    // Counts the bytes and keeps none of them.
    const sink = new (class extends MemoryStore {
      override async put(_hash: string, data: Uint8Array) {
        stored += data.length;
      }
    })();
    const seed = bytes(64 * 1024, 'flat');
    async function* source() {
      for (let k = 0; k < total / seed.length; k++) {
        const piece = Buffer.from(seed);
        piece.writeUInt32BE(k, (k * 4099) % (seed.length - 4));
        yield piece;
      }
    }
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;

    const file = await putStream(sink, source(), { onProgress: () => (peak = Math.max(peak, process.memoryUsage().arrayBuffers - before)) });

    expect(file.size).toBe(total);
    expect(stored).toBe(total);
    // (concurrency 4 + 1) × 4 MiB at most in chunks, plus garbage not yet collected.
    expect(peak).toBeLessThan(96 * MiB);
  });

  it('reads an empty file as nothing', async () => {
    const store = new MemoryStore();

    const stored = await putStream(store, Readable.from([]));

    expect(stored).toEqual({ chunks: [], size: 0, sha256: createHash('sha256').digest('hex') });
    expect((await concat(readChunks(store, stored.chunks))).length).toBe(0);
  });
});
