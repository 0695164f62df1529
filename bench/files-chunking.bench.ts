import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { STREAMS } from '@encedeus/contracts';
import { chunkBuffer, chunkStream, FastCdc, JetStreamChunkStore, type Chunk } from '@encedeus/chunks';
import { benchEnv, conditions, median, record, secondsSince } from './lib/harness';

/**
 * The storage layer of the files service (libs/chunks), without HTTP: FastCDC's cut-point search
 * beside a plain memcpy of the same bytes, chunking with SHA-256 beside SHA-256 alone, the
 * streaming chunker over 64 KiB reads, the dedupe ratio of a 10-version series of a 100 MiB file
 * with small edits, and JetStreamChunkStore put/get beside plain `js.publish` / direct get of the
 * same bytes in 1 MiB messages.
 */
const BENCH = 'files-chunking';
const MiB = 1024 * 1024;
const CPU_BYTES = 128 * MiB;
const ROUNDS = 5;
const VERSION_BYTES = 100 * MiB;
const VERSIONS = 10;
const EDITS_PER_VERSION = 3;
const STORE_BYTES = 64 * MiB;

/** Runs `work` over `items` with at most four calls in flight. */
async function fourAtATime<T>(items: T[], work: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < items.length) {
      const k = next++;
      await work(items[k], k);
    }
  }));
}

/** MiB/s of `fn` over `bytes`, the median of ROUNDS runs. */
function throughput(bytes: number, fn: () => unknown): number {
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    fn();
    rates.push(bytes / MiB / secondsSince(start));
  }
  return median(rates);
}

async function throughputAsync(bytes: number, fn: () => Promise<unknown>, rounds = ROUNDS): Promise<number> {
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    await fn();
    rates.push(bytes / MiB / secondsSince(start));
  }
  return median(rates);
}

/** The next version of a file: a few bytes inserted, deleted or overwritten at random places. */
function edit(previous: Buffer): Buffer {
  let next = previous;
  for (let k = 0; k < EDITS_PER_VERSION; k++) {
    const at = Math.floor(Math.random() * next.length);
    const kind = k % 3;
    if (kind === 0) next = Buffer.concat([next.subarray(0, at), randomBytes(16), next.subarray(at)]);
    else if (kind === 1) next = Buffer.concat([next.subarray(0, at), next.subarray(Math.min(next.length, at + 16))]);
    else {
      if (next === previous) next = Buffer.from(previous);
      randomBytes(16).copy(next, at);
    }
  }
  return next;
}

export async function run(): Promise<void> {
  const data = randomBytes(CPU_BYTES);
  const target = Buffer.allocUnsafe(CPU_BYTES);
  conditions(BENCH, {
    'CPU figures': `${CPU_BYTES / MiB} MiB of random bytes in memory, median of ${ROUNDS} rounds, one thread`,
    chunker: 'FastCDC min 256 KiB / avg 1 MiB / max 4 MiB',
  });

  const cdc = new FastCdc();
  let cuts = 0;
  const search = throughput(CPU_BYTES, () => (cuts = cdc.cutPoints(data).length));
  const memcpy = throughput(CPU_BYTES, () => data.copy(target));
  record({ bench: BENCH, name: 'FastCDC cut-point search', value: search, unit: 'MiB/s', target: { op: '>=', value: 300 }, raw: { name: 'memcpy (Buffer.copy)', value: memcpy, unit: 'MiB/s' } });

  const hashed = throughput(CPU_BYTES, () => chunkBuffer(data));
  const sha = throughput(CPU_BYTES, () => createHash('sha256').update(data).digest());
  record({ bench: BENCH, name: 'chunking with SHA-256 per chunk', value: hashed, unit: 'MiB/s', raw: { name: 'SHA-256 of the same bytes', value: sha, unit: 'MiB/s' } });

  const reads = Array.from({ length: CPU_BYTES / (64 * 1024) }, (_, k) => data.subarray(k * 64 * 1024, (k + 1) * 64 * 1024));
  const streamed = await throughputAsync(CPU_BYTES, async () => {
    for await (const chunk of chunkStream(Readable.from(reads))) void chunk;
  });
  record({ bench: BENCH, name: 'chunkStream over 64 KiB reads (cut + SHA-256)', value: streamed, unit: 'MiB/s', raw: { name: 'SHA-256 of the same bytes', value: sha, unit: 'MiB/s' } });
  conditions(BENCH, { 'average chunk': `${(CPU_BYTES / cuts / 1024).toFixed(0)} KiB (${cuts} chunks in ${CPU_BYTES / MiB} MiB)` });

  // Dedupe: every version's chunks, each distinct chunk stored once.
  let version: Buffer = randomBytes(VERSION_BYTES);
  const stored = new Map<string, number>();
  let logical = 0;
  for (let v = 0; v < VERSIONS; v++) {
    if (v > 0) version = edit(version);
    logical += version.length;
    for (const chunk of chunkBuffer(version)) stored.set(chunk.hash, chunk.size);
  }
  const storedBytes = [...stored.values()].reduce((a, b) => a + b, 0);
  record({ bench: BENCH, name: `dedupe ratio, ${VERSIONS} versions of a ${VERSION_BYTES / MiB} MiB file, ${EDITS_PER_VERSION} small edits each`, value: logical / storedBytes, unit: '× (logical / stored)' });
  conditions(BENCH, { 'dedupe series': `${(logical / MiB).toFixed(0)} MiB logical, ${(storedBytes / MiB).toFixed(1)} MiB in ${stored.size} distinct chunks; edits: 16-byte insert, delete, overwrite at random offsets` });

  // The JetStream store, as the files service's own NATS user, beside plain nats.js on the same server.
  const env = benchEnv();
  const nc = await env.connect('files', 'bench-files-chunking');
  const store = await JetStreamChunkStore.open(nc);
  const admin = await env.connect('admin', 'bench-files-chunking-raw');
  const jsm = await admin.jetstreamManager();
  await jsm.streams.add({ name: 'BENCH_RAW_CHUNKS', subjects: ['rawchunk.>'], allow_direct: true, max_msgs_per_subject: 1 });
  const js = admin.jetstream();
  const direct = (jsm as unknown as { direct: { getMessage(stream: string, query: { last_by_subj: string }): Promise<unknown> } }).direct;
  // Two rounds, raw and ours alternating, each on bytes not stored before (a repeated put is a cheap
  // duplicate), the better of the two each: the first writes of a fresh server (files made, caches
  // cold) count against neither side alone. Four in flight, as putStream: all at once times out on a loaded box.
  const put: number[] = [];
  const get: number[] = [];
  const rawPut: number[] = [];
  const rawGet: number[] = [];
  for (let round = 0; round < 2; round++) {
    const bytes = data.subarray(round * STORE_BYTES, (round + 1) * STORE_BYTES);
    const pieces = Array.from({ length: STORE_BYTES / MiB }, (_, k) => bytes.subarray(k * MiB, (k + 1) * MiB));
    rawPut.push(await throughputAsync(STORE_BYTES, () => fourAtATime(pieces, (p, k) => js.publish(`rawchunk.${round}.${k}`, p)), 1));
    rawGet.push(await throughputAsync(STORE_BYTES, () => fourAtATime(pieces, (_, k) => direct.getMessage('BENCH_RAW_CHUNKS', { last_by_subj: `rawchunk.${round}.${k}` })), 3));
    const chunks: Chunk[] = chunkBuffer(bytes);
    put.push(await throughputAsync(STORE_BYTES, () => fourAtATime(chunks, (c) => store.put(c.hash, c.data)), 1));
    get.push(await throughputAsync(STORE_BYTES, () => fourAtATime(chunks, (c) => store.get(c.hash)), 3));
  }
  const [putRate, getRate] = [Math.max(...put), Math.max(...get)];
  const chunks = chunkBuffer(data.subarray(0, STORE_BYTES));
  record({ bench: BENCH, name: 'JetStreamChunkStore.put (verifies SHA-256)', value: putRate, unit: 'MiB/s', raw: { name: 'js.publish of the same bytes, 1 MiB messages', value: Math.max(...rawPut), unit: 'MiB/s' }, minShareOfRaw: 0.6 });
  record({ bench: BENCH, name: 'JetStreamChunkStore.get (direct get, verifies SHA-256)', value: getRate, unit: 'MiB/s', raw: { name: 'direct get of the same bytes, 1 MiB messages', value: Math.max(...rawGet), unit: 'MiB/s' }, minShareOfRaw: 0.6 });
  conditions(BENCH, { 'store figures': `${STORE_BYTES / MiB} MiB in ${chunks.length} chunks, four puts (then four gets) in flight, better of 2 alternating rounds (raw then ours) each, stream ${STREAMS.chunks} R1 on one nats-server` });
}
