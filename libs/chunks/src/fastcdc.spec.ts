import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CHUNK_MAX_SIZE, CHUNK_MIN_SIZE, chunkBuffer, chunkStream, createChunker, FastCdc, type Chunk } from './fastcdc';

/** Reproducible pseudo-random bytes (SHA-256 in counter mode), so pinned cut points stay valid. */
function bytes(length: number, seed = 'fastcdc'): Buffer {
  const out = Buffer.alloc(length);
  for (let offset = 0, n = 0; offset < length; n++) {
    offset += createHash('sha256').update(`${seed}/${n}`).digest().copy(out, offset);
  }
  return out;
}

/** `data` cut into pieces of the given sizes, repeating them. */
function pieces(data: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0, k = 0; offset < data.length; k++) {
    const size = sizes[k % sizes.length];
    out.push(data.subarray(offset, offset + size));
    offset += size;
  }
  return out;
}

async function collect(source: AsyncIterable<Chunk>): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return chunks;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const sizes = (chunks: Chunk[]) => chunks.map((c) => c.size);
const SMALL = { minSize: 64, avgSize: 256, maxSize: 1024 };

describe('FastCdc', () => {
  const data = bytes(24 * 1024 * 1024);
  const chunks = chunkBuffer(data);

  it('cuts at the same points every time (pinned: a change would defeat dedupe of stored chunks)', () => {
    expect(new FastCdc().cutPoints(data).slice(0, 6)).toEqual(PINNED_CUTS);
    expect(new FastCdc().cutPoints(data)).toEqual(chunks.map((_, k) => chunks.slice(0, k + 1).reduce((n, c) => n + c.size, 0)));
  });

  it('keeps every chunk between minSize and maxSize, the last one at most maxSize, around 1 MiB on average', () => {
    for (const chunk of chunks.slice(0, -1)) {
      expect(chunk.size).toBeGreaterThanOrEqual(CHUNK_MIN_SIZE);
      expect(chunk.size).toBeLessThanOrEqual(CHUNK_MAX_SIZE);
    }
    expect(chunks.at(-1)!.size).toBeLessThanOrEqual(CHUNK_MAX_SIZE);
    const average = data.length / chunks.length;
    expect(average).toBeGreaterThan(0.75 * 1024 * 1024);
    expect(average).toBeLessThan(1.5 * 1024 * 1024);
  });

  it('gives chunks whose concatenation is the input and whose hash is the SHA-256 of their bytes', () => {
    expect(Buffer.concat(chunks.map((c) => c.data)).equals(data)).toBe(true);
    for (const chunk of chunks) {
      expect(chunk.hash).toBe(sha256(chunk.data));
      expect(chunk.size).toBe(chunk.data.length);
    }
  });

  it('finds the same chunks whatever the input buffers are (odd sizes, one byte, larger than maxSize)', async () => {
    const small = bytes(200_000, 'split');
    const whole = sizes(chunkBuffer(small, SMALL));

    for (const split of [[1], [3, 1, 7], [1023, 1025, 5], [64 * 1024]]) {
      const streamed = await collect(chunkStream(Readable.from(pieces(small, split)), SMALL));
      expect(sizes(streamed)).toEqual(whole);
    }
    const big = await collect(chunkStream(Readable.from([data.subarray(0, 9 * 1024 * 1024 + 1), data.subarray(9 * 1024 * 1024 + 1)])));
    expect(big.map((c) => c.hash)).toEqual(chunks.map((c) => c.hash));
  });

  it('holds less than maxSize between input buffers, however large they are', () => {
    const cdc = new FastCdc(SMALL);
    let held = 0;

    for (const input of pieces(bytes(100_000, 'held'), [5000, 1, 3000, 700])) {
      for (const chunk of cdc.push(input)) expect(chunk.size).toBeLessThanOrEqual(SMALL.maxSize);
      held = Math.max(held, cdc.pendingBytes);
    }

    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(SMALL.maxSize);
  });

  it('changes only the first chunks when one byte is inserted at the front (content-defined)', () => {
    const shifted = chunkBuffer(Buffer.concat([Buffer.from([0x42]), data]));

    const before = new Set(chunks.map((c) => c.hash));
    const fresh = shifted.filter((c) => !before.has(c.hash));
    expect(fresh.length).toBeGreaterThanOrEqual(1);
    expect(fresh.length).toBeLessThanOrEqual(2);
    expect(shifted.indexOf(fresh.at(-1)!)).toBeLessThan(2);
  });

  it('yields nothing for empty input', async () => {
    expect(chunkBuffer(Buffer.alloc(0))).toEqual([]);
    expect(await collect(chunkStream(Readable.from([])))).toEqual([]);
    expect(await collect(chunkStream(Readable.from([Buffer.alloc(0), Buffer.alloc(0)])))).toEqual([]);
  });

  it('yields one chunk for input smaller than minSize', () => {
    const small = bytes(CHUNK_MIN_SIZE - 1, 'small');

    const [only, ...rest] = chunkBuffer(small);

    expect(rest).toEqual([]);
    expect(only.data.equals(small)).toBe(true);
    expect(only.hash).toBe(sha256(small));
  });

  it('cuts exactly at maxSize when no content cut point comes first', () => {
    expect(sizes(chunkBuffer(Buffer.alloc(CHUNK_MAX_SIZE)))).toEqual([CHUNK_MAX_SIZE]);
    expect(sizes(chunkBuffer(Buffer.alloc(2 * CHUNK_MAX_SIZE + 5)))).toEqual([CHUNK_MAX_SIZE, CHUNK_MAX_SIZE, 5]);
    expect(sizes(chunkBuffer(bytes(1000, 'fixed'), { minSize: 256, avgSize: 256, maxSize: 256 }))).toEqual([256, 256, 256, 232]);
  });

  it('respects small sizes too', () => {
    const cut = chunkBuffer(bytes(300_000, 'sizes'), SMALL);
    for (const chunk of cut.slice(0, -1)) {
      expect(chunk.size).toBeGreaterThanOrEqual(SMALL.minSize);
      expect(chunk.size).toBeLessThanOrEqual(SMALL.maxSize);
    }
    expect(cut.length).toBeGreaterThan(300_000 / SMALL.maxSize);
  });

  it('rejects sizes that are out of order or not a power of two', () => {
    expect(() => new FastCdc({ avgSize: 1000 })).toThrow(RangeError);
    expect(() => new FastCdc({ minSize: 2 * 1024 * 1024 })).toThrow(RangeError);
    expect(() => new FastCdc({ maxSize: 1024 })).toThrow(RangeError);
  });

  it('works as a Transform stream', async () => {
    const small = bytes(100_000, 'transform');
    const out: Chunk[] = [];

    await pipeline(Readable.from(pieces(small, [777])), createChunker(SMALL), async (source: AsyncIterable<Chunk>) => {
      for await (const chunk of source) out.push(chunk);
    });

    expect(sizes(out)).toEqual(sizes(chunkBuffer(small, SMALL)));
    expect(Buffer.concat(out.map((c) => c.data)).equals(small)).toBe(true);
  });
});

const PINNED_CUTS = [1137800, 1652603, 2745946, 3948320, 5123603, 5535330];
