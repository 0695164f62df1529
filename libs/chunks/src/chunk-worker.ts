import { createHash, type Hash } from 'node:crypto';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { FastCdc, type Chunk, type ChunkerOptions } from './fastcdc';

/**
 * Content-defined chunking off the event loop: a worker thread cuts the bytes (FastCDC), hashes each
 * chunk and the whole input (SHA-256), and hands the chunks back. An upload's thread then only
 * parses the request and publishes, so on two cores the cutting and hashing run beside it rather
 * than between its reads. One worker per process serves every upload (jobs by id).
 */

/** Bytes handed to the worker and not yet taken back as chunks by the consumer, at most (plus one input buffer and one chunk). */
const WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * Input is gathered into buffers of this size before it crosses to the worker: an HTTP body comes
 * in 64 KiB reads, and a buffer and a message per read cost more (allocation, GC, postMessage) than
 * the copy itself.
 */
const BATCH_BYTES = 1024 * 1024;

type ToWorker =
  | { id: number; type: 'data'; data: Uint8Array; options?: ChunkerOptions }
  | { id: number; type: 'end' }
  | { id: number; type: 'abort' };
type FromWorker =
  | { id: number; type: 'chunk'; hash: string; data: Uint8Array }
  | { id: number; type: 'done'; sha256: string; size: number }
  | { id: number; type: 'error'; message: string };

/** What cutInWorker gives: the chunks in order, then the whole input's SHA-256 and size. */
export interface WorkerCut {
  chunks: AsyncIterable<Chunk>;
  /** Resolves after the last chunk with the SHA-256 and size of all input. */
  done: Promise<{ sha256: string; size: number }>;
}

interface Job {
  onMessage(message: FromWorker): void;
  onCrash(error: Error): void;
}

let shared: { worker: Worker; jobs: Map<number, Job> } | undefined;
let nextId = 1;

function worker(): { worker: Worker; jobs: Map<number, Job> } {
  if (shared) return shared;
  // Under ts-node or Jest this file is TypeScript: the worker registers ts-node to load it.
  const execArgv = __filename.endsWith('.ts') ? ['-r', 'ts-node/register/transpile-only'] : [];
  const w = new Worker(__filename, { workerData: { encedeusChunkWorker: true }, execArgv });
  const jobs = new Map<number, Job>();
  const current = { worker: w, jobs };
  w.on('message', (message: FromWorker) => jobs.get(message.id)?.onMessage(message));
  const crash = (error: Error) => {
    if (shared === current) shared = undefined;
    for (const job of jobs.values()) job.onCrash(error);
    jobs.clear();
  };
  w.on('error', crash);
  w.on('exit', (code) => crash(new Error(`chunks: the chunking worker exited (${code})`)));
  // Idle, it does not keep the process alive; while a job runs, its pending promises do.
  w.unref();
  shared = current;
  return current;
}

/**
 * Cuts `source` in the shared worker thread. Input is copied to the worker in 1 MiB batches,
 * chunks come back transferred. Reading stops while WINDOW_BYTES are with the worker or waiting for the consumer,
 * so memory stays flat. Breaking out of `chunks` aborts the job.
 */
export function cutInWorker(source: AsyncIterable<Uint8Array>, chunker: ChunkerOptions = {}): WorkerCut {
  const { worker: w, jobs } = worker();
  // Only the sizes cross to the worker (a caller's options object may hold functions).
  const options: ChunkerOptions = { minSize: chunker.minSize, avgSize: chunker.avgSize, maxSize: chunker.maxSize };
  const id = nextId++;
  const queue: Chunk[] = [];
  let failure: Error | undefined;
  let finished = false;
  // The pump waits for room in the window, the consumer for a chunk: each has its own wake-up.
  let wakeConsumer: (() => void) | undefined;
  let wakePump: (() => void) | undefined;
  let posted = 0;
  let taken = 0;
  let stopped = false;
  let resolveDone!: (value: { sha256: string; size: number }) => void;
  let rejectDone!: (error: Error) => void;
  const done = new Promise<{ sha256: string; size: number }>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => undefined);
  const notify = () => {
    const [c, p] = [wakeConsumer, wakePump];
    wakeConsumer = wakePump = undefined;
    c?.();
    p?.();
  };
  const fail = (error: Error) => {
    failure ??= error;
    jobs.delete(id);
    rejectDone(failure);
    notify();
  };
  jobs.set(id, {
    onMessage(message) {
      if (message.type === 'chunk') {
        const data = Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength);
        queue.push({ hash: message.hash, size: data.length, data });
      } else if (message.type === 'done') {
        finished = true;
        jobs.delete(id);
        resolveDone({ sha256: message.sha256, size: message.size });
      } else {
        fail(new Error(message.message));
      }
      notify();
    },
    onCrash: fail,
  });
  w.ref();
  const release = () => {
    jobs.delete(id);
    if (jobs.size === 0) w.unref();
  };

  const pump = async () => {
    let first = true;
    // The buffer being filled: one of its own (allocUnsafeSlow, never a slice of the shared pool), so it can be transferred.
    let batch: Buffer | undefined;
    let filled = 0;
    const post = () => {
      if (!batch || filled === 0) return;
      const data = batch.subarray(0, filled);
      posted += filled;
      w.postMessage({ id, type: 'data', data, ...(first ? { options } : {}) } satisfies ToWorker, [batch.buffer as ArrayBuffer]);
      first = false;
      batch = undefined;
      filled = 0;
    };
    try {
      for await (const input of source) {
        if (stopped || failure) return;
        // Copied (the input may be a slice of a buffer its producer reuses) into the batch the worker will own.
        for (let offset = 0; offset < input.byteLength; ) {
          batch ??= Buffer.allocUnsafeSlow(BATCH_BYTES);
          const n = Math.min(input.byteLength - offset, BATCH_BYTES - filled);
          batch.set(input.subarray(offset, offset + n), filled);
          filled += n;
          offset += n;
          if (filled === BATCH_BYTES) post();
        }
        while (posted - taken > WINDOW_BYTES && !stopped && !failure) await new Promise<void>((r) => (wakePump = r));
      }
      if (stopped || failure) return;
      post();
      w.postMessage({ id, type: 'end' } satisfies ToWorker);
    } catch (error) {
      fail(error as Error);
      w.postMessage({ id, type: 'abort' } satisfies ToWorker);
    }
  };

  async function* chunks(): AsyncGenerator<Chunk> {
    const pumping = pump();
    try {
      for (;;) {
        if (queue.length > 0) {
          const chunk = queue.shift()!;
          taken += chunk.size;
          notify();
          yield chunk;
          continue;
        }
        if (failure) throw failure;
        if (finished) break;
        await new Promise<void>((r) => (wakeConsumer = r));
      }
      await pumping;
    } finally {
      if (!finished) {
        stopped = true;
        w.postMessage({ id, type: 'abort' } satisfies ToWorker);
        notify();
        rejectDone(failure ?? new Error('chunks: cut aborted'));
      }
      release();
    }
  }
  return { chunks: chunks(), done };
}

/** The worker side: one FastCdc and one whole-input digest per job. */
function runWorker(): void {
  const jobs = new Map<number, { cdc: FastCdc; digest: Hash; size: number }>();
  const send = (id: number, chunk: Chunk) => {
    const d = chunk.data;
    // Transfer a buffer the chunk owns whole; a chunk cut from a larger input buffer is copied out.
    const own = d.byteOffset === 0 && d.byteLength === d.buffer.byteLength ? new Uint8Array(d.buffer, 0, d.byteLength) : new Uint8Array(d);
    parentPort!.postMessage({ id, type: 'chunk', hash: chunk.hash, data: own } satisfies FromWorker, [own.buffer as ArrayBuffer]);
  };
  parentPort!.on('message', (message: ToWorker) => {
    const { id } = message;
    try {
      if (message.type === 'abort') {
        jobs.delete(id);
        return;
      }
      let job = jobs.get(id);
      if (!job) jobs.set(id, (job = { cdc: new FastCdc(message.type === 'data' ? message.options : undefined), digest: createHash('sha256'), size: 0 }));
      if (message.type === 'data') {
        const input = Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength);
        job.digest.update(input);
        job.size += input.length;
        for (const chunk of job.cdc.push(input)) send(id, chunk);
        return;
      }
      const last = job.cdc.flush();
      if (last) send(id, last);
      jobs.delete(id);
      parentPort!.postMessage({ id, type: 'done', sha256: job.digest.digest('hex'), size: job.size } satisfies FromWorker);
    } catch (error) {
      jobs.delete(id);
      parentPort!.postMessage({ id, type: 'error', message: (error as Error).message } satisfies FromWorker);
    }
  });
}

if (!isMainThread && (workerData as { encedeusChunkWorker?: boolean } | undefined)?.encedeusChunkWorker) runWorker();
