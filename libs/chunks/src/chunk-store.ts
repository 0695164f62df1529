import { createHash } from 'node:crypto';
import { DomainError } from '@encedeus/contracts';

/** A stored chunk as the garbage collector sees it. */
export interface StoredChunk {
  hash: string;
  /** Bytes of the chunk. */
  size: number;
  /** When this copy was last written (a `put` of an existing chunk renews it). */
  storedAt: Date;
  /** The store's version of this copy, when it has one (JetStream: the stream sequence). */
  revision?: number;
}

/** How many chunks a store holds and the bytes they take there. */
export interface ChunkStoreStats {
  chunks: number;
  /** Bytes the store uses for them (JetStream: the stream's bytes, headers and subjects included). */
  bytes: number;
}

/** Options of ChunkStore.put. */
export interface PutChunkOptions {
  /**
   * The caller computed `hash` from `data` itself, just now (putStream does, as it cuts): the store
   * skips hashing the bytes again, a third SHA-256 pass of every upload.
   */
  hashed?: boolean;
}

/** Conditions of a delete. */
export interface DeleteChunkOptions {
  /**
   * Deletes only a copy written before this time: a chunk that an upload `put` again after the
   * garbage collector listed it survives. @default no condition
   */
  storedBefore?: Date;
  /** Deletes only this copy, as `list` gave it (StoredChunk.revision); a newer copy survives. Ignored by stores without revisions. */
  revision?: number;
}

/**
 * Where content-addressed chunks live (DESIGN.md §10 files). Keys are SHA-256 hex digests of the
 * bytes; every method rejects anything else with InvalidChunkHashError, so a hash can never reach
 * a subject or a path unchecked.
 */
export interface ChunkStore {
  /** True when the chunk is stored. */
  has(hash: string): Promise<boolean>;
  /**
   * Stores the chunk. Idempotent: storing a chunk that exists keeps one copy and renews its
   * `storedAt`, which protects it from a collection running meanwhile. Rejects data whose SHA-256 is
   * not `hash` (ChunkCorruptedError), so a caller's bug cannot poison the address — unless
   * `options.hashed` says the caller computed `hash` from these very bytes.
   */
  put(hash: string, data: Uint8Array, options?: PutChunkOptions): Promise<void>;
  /** The chunk's bytes, or undefined when it is not stored. Bytes that do not hash to `hash` throw ChunkCorruptedError. */
  get(hash: string): Promise<Buffer | undefined>;
  /** Removes the chunk (a copy `put` after `storedBefore` or other than `revision` survives); true when a copy was removed. A missing chunk (or one newer than `storedBefore`) is not an error: false. */
  delete(hash: string, options?: DeleteChunkOptions): Promise<boolean>;
  /** Chunk count and bytes used. */
  stats(): Promise<ChunkStoreStats>;
  /** Every stored chunk, for the garbage collector; in no particular order, without the bytes. */
  list(): AsyncIterable<StoredChunk>;
}

const HASH = /^[0-9a-f]{64}$/;

/** A chunk key that is not 64 lower-case hex digits. */
export class InvalidChunkHashError extends DomainError {
  constructor(hash: string) {
    super('BAD_REQUEST', `chunks: "${hash.slice(0, 80)}" is not a SHA-256 hex digest`);
  }
}

/** Stored (or offered) bytes whose SHA-256 is not their address. */
export class ChunkCorruptedError extends DomainError {
  constructor(readonly hash: string, readonly actual: string, where: string) {
    super('CHUNK_CORRUPTED', `chunks: ${where}: chunk ${hash} hashes to ${actual}`, { hash, actual });
  }
}

/** Throws InvalidChunkHashError unless `hash` is 64 lower-case hex digits. */
export function assertChunkHash(hash: string): void {
  if (typeof hash !== 'string' || !HASH.test(hash)) throw new InvalidChunkHashError(String(hash));
}

/** Throws ChunkCorruptedError unless `data` hashes to `hash` (SHA-256); `where` names the copy (a put, a file, a stream). */
export function assertChunkBytes(hash: string, data: Uint8Array, where: string): void {
  const actual = createHash('sha256').update(data).digest('hex');
  if (actual !== hash) throw new ChunkCorruptedError(hash, actual, where);
}
