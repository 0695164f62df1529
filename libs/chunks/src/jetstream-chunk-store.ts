import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type NatsConnection, type NatsError, type StoredMsg, type StreamConfig } from 'nats';
import { STREAMS } from '@encedeus/contracts';
import { readRange, streamReplicas } from '@encedeus/messaging';
import { assertChunkBytes, assertChunkHash, type ChunkStore, type ChunkStoreStats, type DeleteChunkOptions, type PutChunkOptions, type StoredChunk } from './chunk-store';
import { CHUNK_MAX_SIZE } from './fastcdc';

const SECOND_NS = 1_000_000_000;
const SUBJECT_PREFIX = 'chunk.';
/** Room for the subject, headers and protocol line of a chunk message. */
const MESSAGE_OVERHEAD = 4096;

/**
 * The chunk stream: one subject per chunk (`chunk.<sha256>`) holding one message. A put repeated
 * within `duplicate_window` is dropped by `Nats-Msg-Id` = hash; a later one replaces the message
 * (`max_msgs_per_subject: 1`), so a chunk is stored once either way. `allow_direct` serves reads
 * from any replica.
 */
export const CHUNK_STREAM_CONFIG: Partial<StreamConfig> = {
  name: STREAMS.chunks,
  subjects: [`${SUBJECT_PREFIX}*`],
  storage: StorageType.File,
  retention: RetentionPolicy.Limits,
  max_msgs_per_subject: 1,
  discard: DiscardPolicy.Old,
  max_age: 0,
  duplicate_window: 2 * 60 * SECOND_NS,
  allow_direct: true,
};

/** Options of JetStreamChunkStore.open. */
export interface JetStreamChunkStoreOptions {
  /** Replicas of the stream when this call creates it. @default streamReplicas() */
  replicas?: number;
  /** The largest chunk that will be put; the server's max_payload must hold it. @default CHUNK_MAX_SIZE (4 MiB) */
  maxChunkSize?: number;
}

/** nats.js 2.29 has `jsm.direct` (its DirectStreamAPI) at run time but leaves it out of the exported JetStreamManager type. */
type DirectGet = { direct: { getMessage(stream: string, query: { last_by_subj: string }): Promise<StoredMsg> } };

function isNotFound(error: unknown): boolean {
  const e = error as NatsError;
  return e?.code === '404' || e?.api_error?.err_code === 10037 || e?.api_error?.err_code === 10057 || /not found/i.test(String(e?.message));
}


/**
 * The default ChunkStore (DESIGN.md §10): chunks in the JetStream stream CHUNKS, replicated with
 * the cluster (R3 on three servers). Needs the server's `max_payload` above the largest chunk:
 * our generated config sets `max_payload: 8MB` (libs/messaging natsServerConfig); nats-server's
 * default of 1 MB is refused at open. Read by direct get (any replica answers).
 */
export class JetStreamChunkStore implements ChunkStore {
  /** A put repeated within the stream's de-duplication window does not renew the chunk, so a collection's grace must be at least this. */
  readonly minGraceMs: number;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager & DirectGet,
    readonly stream: string,
    duplicateWindowNs: number,
  ) {
    this.minGraceMs = Math.ceil(duplicateWindowNs / 1e6);
  }

  /** Opens the store, creating the stream when it is missing. Refuses a server whose max_payload cannot carry a chunk. */
  static async open(nc: NatsConnection, options: JetStreamChunkStoreOptions = {}): Promise<JetStreamChunkStore> {
    const maxChunk = options.maxChunkSize ?? CHUNK_MAX_SIZE;
    const maxPayload = nc.info?.max_payload ?? 0;
    if (maxPayload < maxChunk + MESSAGE_OVERHEAD) {
      throw new Error(
        `chunks/jetstream: nats-server max_payload is ${maxPayload} bytes, too small for ${maxChunk}-byte chunks; set "max_payload: 8MB" in its config (natsServerConfig does)`,
      );
    }
    const jsm = await nc.jetstreamManager();
    const name = CHUNK_STREAM_CONFIG.name!;
    let info;
    try {
      info = await jsm.streams.info(name);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      try {
        info = await jsm.streams.add({ ...CHUNK_STREAM_CONFIG, num_replicas: options.replicas ?? streamReplicas() });
      } catch (added) {
        // Another instance may have created it between our info and add.
        if (!/already in use|exists/i.test(String((added as Error).message))) throw added;
        info = await jsm.streams.info(name);
      }
    }
    return new JetStreamChunkStore(nc, nc.jetstream(), jsm as JetStreamManager & DirectGet, name, info.config.duplicate_window ?? CHUNK_STREAM_CONFIG.duplicate_window!);
  }

  private subjectOf(hash: string): string {
    assertChunkHash(hash);
    return SUBJECT_PREFIX + hash;
  }

  async has(hash: string): Promise<boolean> {
    const subject = this.subjectOf(hash);
    // Stream info filtered to one subject: a count, not the chunk's bytes.
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: subject });
    return (info.state.subjects?.[subject] ?? 0) > 0;
  }

  async put(hash: string, data: Uint8Array, options: PutChunkOptions = {}): Promise<void> {
    const subject = this.subjectOf(hash);
    if (!options.hashed) assertChunkBytes(hash, data, 'put');
    try {
      await this.js.publish(subject, data, { msgID: hash, expect: { streamName: this.stream } });
    } catch (error) {
      throw new Error(`chunks/jetstream: failed to store chunk ${hash}`, { cause: error });
    }
  }

  async get(hash: string): Promise<Buffer | undefined> {
    const stored = await this.lastMessage(this.subjectOf(hash));
    if (!stored) return undefined;
    const bytes = Buffer.from(stored.data.buffer, stored.data.byteOffset, stored.data.byteLength);
    assertChunkBytes(hash, bytes, `stream ${this.stream}`);
    return bytes;
  }

  /**
   * The chunk's message by direct get (any replica answers). A replica that has not caught up yet
   * answers "not found" for a chunk just put, so a miss is asked again of the stream leader.
   */
  private async lastMessage(subject: string): Promise<StoredMsg | undefined> {
    try {
      return await this.jsm.direct.getMessage(this.stream, { last_by_subj: subject });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    try {
      return await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async delete(hash: string, options: DeleteChunkOptions = {}): Promise<boolean> {
    const subject = this.subjectOf(hash);
    let revision = options.revision;
    if (revision === undefined && options.storedBefore) {
      const stored = await this.lastMessage(subject);
      if (!stored) return false;
      if (stored.time.getTime() >= options.storedBefore.getTime()) return false;
      revision = stored.seq;
    }
    if (revision === undefined) return (await this.jsm.streams.purge(this.stream, { filter: subject })).purged > 0;
    // By sequence: a put that renewed the chunk meanwhile replaced this message, and the new one stays.
    try {
      return await this.jsm.streams.deleteMessage(this.stream, revision, false);
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async stats(): Promise<ChunkStoreStats> {
    const { state } = await this.jsm.streams.info(this.stream);
    return { chunks: state.messages, bytes: state.bytes };
  }

  async *list(): AsyncGenerator<StoredChunk> {
    for await (const m of readRange(this.nc, { stream: this.stream, filterSubject: `${SUBJECT_PREFIX}*`, headersOnly: true })) {
      yield {
        hash: m.subject.slice(SUBJECT_PREFIX.length),
        size: Number(m.headers?.get('Nats-Msg-Size') ?? 0),
        storedAt: new Date(Math.floor(m.info.timestampNanos / 1e6)),
        revision: m.seq,
      };
    }
  }
}
