import type { ChunkStore, StoredChunk } from './chunk-store';

/** Which chunks live files still reference: a set, or a lookup (e.g. one query per batch). */
export type LiveChunks = ReadonlySet<string> | { has(hash: string): boolean };

/**
 * The one rule of chunk garbage collection (mark and sweep): a chunk is garbage when no live file
 * references it AND it was stored more than `graceMs` before `now`. The grace protects chunks of
 * uploads still in flight, which no file references yet; an upload renews every chunk it uses
 * (ChunkStore.put, also for chunks already stored), so an old chunk deduplicated by a new upload is
 * young again. Hence the rule the files service keeps: commit an upload's metadata within
 * `graceMs` of its first put, or abort it. Pure.
 */
export function isGarbage(chunk: StoredChunk, live: LiveChunks, now: Date, graceMs: number): boolean {
  return !live.has(chunk.hash) && now.getTime() - chunk.storedAt.getTime() > graceMs;
}

/** The garbage among `chunks` (see isGarbage). Pure. */
export function selectGarbage(chunks: Iterable<StoredChunk>, live: LiveChunks, now: Date, graceMs: number): StoredChunk[] {
  const garbage: StoredChunk[] = [];
  for (const chunk of chunks) if (isGarbage(chunk, live, now, graceMs)) garbage.push(chunk);
  return garbage;
}

/** How many references each chunk has among `files` (each file given as its list of chunk hashes, repeats counted). Pure. */
export function countReferences(files: Iterable<Iterable<string>>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const chunks of files) for (const hash of chunks) counts.set(hash, (counts.get(hash) ?? 0) + 1);
  return counts;
}

/** Options of one collection. */
export interface CollectGarbageOptions {
  /** The time the collection decides at. @default new Date() */
  now?: Date;
  /** Chunks stored less than this long ago are kept, referenced or not. Must be ≥ the store's `minGraceMs`. */
  graceMs: number;
}

/** What one collection did. */
export interface CollectGarbageResult {
  /** Chunks listed. */
  examined: number;
  /** Chunks deleted. */
  deleted: number;
  /** Bytes of the deleted chunks. */
  freedBytes: number;
}

/** The smallest grace a store allows, when it has one (JetStream: its de-duplication window). */
export interface GraceBound {
  readonly minGraceMs?: number;
}

/**
 * Sweeps `store`: deletes every chunk isGarbage() picks. The delete is conditional on the copy
 * being older than `now - graceMs` (DeleteChunkOptions.storedBefore), so a chunk `put` again
 * after it was listed survives. `live` must be taken before the collection starts (a file
 * committed later only uses chunks its upload renewed, which the grace protects).
 */
export async function collectGarbage(store: ChunkStore & GraceBound, live: LiveChunks, options: CollectGarbageOptions): Promise<CollectGarbageResult> {
  const now = options.now ?? new Date();
  if (!(options.graceMs >= (store.minGraceMs ?? 0))) {
    throw new RangeError(`chunks/gc: graceMs ${options.graceMs} is below the store's minimum of ${store.minGraceMs} ms`);
  }
  const storedBefore = new Date(now.getTime() - options.graceMs);
  const result: CollectGarbageResult = { examined: 0, deleted: 0, freedBytes: 0 };
  for await (const chunk of store.list()) {
    result.examined++;
    if (!isGarbage(chunk, live, now, options.graceMs)) continue;
    if (await store.delete(chunk.hash, { storedBefore, revision: chunk.revision })) {
      result.deleted++;
      result.freedBytes += chunk.size;
    }
  }
  return result;
}
