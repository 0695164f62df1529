import { randomUUID } from 'node:crypto';
import {
  headers as natsHeaders,
  JSONCodec,
  type JetStreamClient,
  type JetStreamManager,
  type KV,
  type NatsConnection,
} from 'nats';
import {
  DomainError,
  EVENT_HEADERS,
  STREAMS,
  Subjects,
  readEventData,
  validateEventData,
  WrongExpectedRevisionError,
  type AggregateName,
  type CloudEvent,
  type NewEvent,
  type RecordedEvent,
} from '@encedeus/contracts';
import { readRange } from './kernel/read-range';
import { ensureStreams, SNAPSHOT_BUCKET, streamReplicas } from './streams';

/** JetStream's "wrong last sequence" API error (StreamWrongLastSequence). */
const JS_WRONG_LAST_SEQUENCE = 10071;

/** Where an aggregate stands: its version (event count) and the stream sequence of its last event. */
export interface Revision {
  version: number;
  sequence: number;
}

/** A revision of a stream that has no events yet. */
export const NO_STREAM: Revision = Object.freeze({ version: 0, sequence: 0 });

/**
 * What the appender expects the aggregate to be at: a revision from `load` (one round trip),
 * a bare version (the store looks up its sequence first), or `'any'` (no check).
 */
export type ExpectedRevision = Revision | number | 'any';

/** Metadata of an append, recorded in every event it writes. */
export interface AppendMeta {
  /** `user:<id>`, `apikey:<id>`, `agent:<nodeId>`, `service:<name>` or `system`. */
  actor: string;
  correlationId?: string;
  /** Retrying an append at the same revision with the same key stores its events once (JetStream de-duplication window). */
  idempotencyKey?: string;
}

export interface AppendResult {
  /** Revision after the append. */
  revision: Revision;
  events: RecordedEvent[];
  /** True when every event was a duplicate of an earlier append with the same idempotency key. */
  duplicate: boolean;
}

/**
 * Folds events into state; pure. `name` versions snapshots: change it when evolve changes.
 * Loaded states are shared with the store's cache and snapshots: never mutate them in place.
 */
export interface Reducer<S> {
  name: string;
  initialState(): S;
  evolve(state: S, event: CloudEvent): S;
}

export interface Loaded<S> {
  state: S;
  revision: Revision;
}

export interface EventStoreOptions {
  /** `encedeus/<service>` becomes every event's `source`. */
  service: string;
  /** Take a snapshot every N events. @default 100 */
  snapshotEvery?: number;
  /** Timeout of one publish acknowledgement. @default 5000 */
  publishTimeoutMs?: number;
}

const codec = JSONCodec<CloudEvent>();

/**
 * The event store over JetStream stream EVENTS (DESIGN.md §4). One subject per aggregate
 * (`evt.<aggregate>.<id>`); optimistic concurrency with `Nats-Expected-Last-Subject-Sequence`.
 *
 * Several events from one command are chained: each publish expects the sequence the previous one
 * got, so a crash in the middle leaves a valid prefix (docs/event-store.md).
 */
export class EventStore {
  private readonly js: JetStreamClient;
  private snapshots?: Promise<KV>;
  private readonly snapshotEvery: number;

  private constructor(
    readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly options: EventStoreOptions,
  ) {
    this.js = nc.jetstream();
    this.snapshotEvery = options.snapshotEvery ?? 100;
  }

  /** Creates the store, making sure stream EVENTS exists. */
  static async create(nc: NatsConnection, options: EventStoreOptions): Promise<EventStore> {
    const jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, [STREAMS.events]);
    return new EventStore(nc, jsm, options);
  }

  /**
   * Appends events to `evt.<aggregate>.<id>` if the aggregate is still at `expected`.
   * Throws WrongExpectedRevisionError when it is not. An empty `events` is a no-op.
   */
  async append(aggregate: AggregateName | string, id: string, expected: ExpectedRevision, events: NewEvent[], meta: AppendMeta): Promise<AppendResult> {
    const subject = Subjects.event(aggregate as AggregateName, id);
    let revision: Revision | undefined = typeof expected === 'object' ? expected : undefined;
    if (typeof expected === 'number' || expected === 'any') {
      const current = await this.currentRevision(subject);
      if (typeof expected === 'number' && current.version !== expected) {
        throw new WrongExpectedRevisionError(subject, expected, current.version);
      }
      revision = current;
    }
    let position = revision!;
    const recorded: RecordedEvent[] = [];
    let duplicates = 0;
    for (let i = 0; i < events.length; i++) {
      const { type, data } = events[i];
      const cloudEvent: CloudEvent = {
        specversion: '1.0',
        id: randomUUID(),
        source: `encedeus/${this.options.service}`,
        type,
        subject: `${aggregate}/${id}`,
        time: new Date().toISOString(),
        datacontenttype: 'application/json',
        data: validateEventData(type, data),
        actor: meta.actor,
        correlationid: meta.correlationId,
        aggregateversion: position.version + 1,
      };
      const h = natsHeaders();
      h.set(EVENT_HEADERS.type, type);
      h.set(EVENT_HEADERS.actor, meta.actor);
      if (meta.correlationId) h.set(EVENT_HEADERS.correlationId, meta.correlationId);
      // The key names the command; the version names the event's place in the aggregate. A command that
      // appends several times with one key stores every event once (an index within one append would
      // make its second append look like a duplicate of its first).
      const msgID = meta.idempotencyKey ? `${subject}:${meta.idempotencyKey}:${cloudEvent.aggregateversion}` : cloudEvent.id;
      try {
        const ack = await this.js.publish(subject, codec.encode(cloudEvent), {
          msgID,
          headers: h,
          expect: expected === 'any' && i === 0 ? undefined : { lastSubjectSequence: position.sequence },
          timeout: this.options.publishTimeoutMs ?? 5000,
        });
        if (ack.duplicate) duplicates++;
        position = { version: position.version + 1, sequence: ack.seq };
        recorded.push({ sequence: ack.seq, event: cloudEvent });
      } catch (error) {
        if (isWrongLastSequence(error)) {
          const earlier = meta.idempotencyKey ? await this.storedByEarlierAttempt(subject, position.sequence, msgID) : undefined;
          if (earlier) {
            duplicates++;
            position = { version: earlier.event.aggregateversion, sequence: earlier.sequence };
            recorded.push(earlier);
            continue;
          }
          throw new WrongExpectedRevisionError(subject, position.version, undefined, { cause: error });
        }
        throw new DomainError('SERVICE_UNAVAILABLE', `messaging/event-store: failed to append to ${subject}`, undefined, { cause: error });
      }
    }
    const duplicate = events.length > 0 && duplicates === events.length;
    if (duplicate) {
      // The original append may have written more events since; report where the stream really is.
      position = await this.currentRevision(subject);
    }
    if (!duplicate && Math.floor(position.version / this.snapshotEvery) > Math.floor((position.version - events.length) / this.snapshotEvery)) {
      this.pendingSnapshot.add(subject);
    }
    return { revision: position, events: recorded, duplicate };
  }

  /**
   * The event an earlier attempt of this append stored right after `after` on `subject`, found by its
   * `Nats-Msg-Id`. A replicated stream (R3) checks the expected last subject sequence before it
   * de-duplicates (nats-server 2.9.10), so a retry there is answered "wrong last sequence" where a
   * single server answers "duplicate".
   */
  private async storedByEarlierAttempt(subject: string, after: number, msgID: string): Promise<RecordedEvent | undefined> {
    try {
      // MSG.GET (not a direct get, which a lagging replica may answer); next_by_subj is in 2.9's API, not in nats.js's type.
      const message = await this.jsm.streams.getMessage(STREAMS.events, { seq: after + 1, next_by_subj: subject } as never);
      if (message.header?.get('Nats-Msg-Id') !== msgID) return undefined;
      const event = codec.decode(message.data);
      event.data = readEventData(event.type, event.data);
      return { sequence: message.seq, event };
    } catch (error) {
      if (isNoMessage(error)) return undefined;
      throw new DomainError('SERVICE_UNAVAILABLE', `messaging/event-store: failed to check an earlier append to ${subject}`, undefined, { cause: error });
    }
  }

  /**
   * Recently loaded aggregates. A hit still costs the one direct get that proves it is current,
   * and a stale entry is caught up from its sequence: correctness never depends on the cache.
   */
  private readonly cache = new Map<string, Loaded<unknown>>();
  private static readonly CACHE_SIZE = 10_000;

  private remember(key: string, loaded: Loaded<unknown>): void {
    this.cache.delete(key);
    this.cache.set(key, loaded);
    if (this.cache.size > EventStore.CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
  }

  /**
   * The state after an append this instance made, folded by the caller (the kernel): the next load
   * of the aggregate then needs one direct get (its current revision), not a read of the events it
   * just wrote. A snapshot due at this version is written as `load` would.
   */
  rememberAppended<S>(aggregate: AggregateName | string, id: string, reducer: Reducer<S>, loaded: Loaded<S>): void {
    const subject = Subjects.event(aggregate as AggregateName, id);
    this.remember(this.snapshotKey(subject, reducer as Reducer<unknown>), loaded);
    if (this.pendingSnapshot.delete(subject)) {
      void this.writeSnapshot(subject, reducer, loaded).catch(() => undefined);
    }
  }

  /** Subjects that crossed a snapshot boundary; the next `load` with a reducer writes the snapshot. */
  private readonly pendingSnapshot = new Set<string>();

  /** The revision of an aggregate: version and sequence of its last event (one direct get). */
  async currentRevision(subject: string): Promise<Revision> {
    try {
      const message = await this.jsm.streams.getMessage(STREAMS.events, { last_by_subj: subject });
      const event = codec.decode(message.data);
      return { version: event.aggregateversion, sequence: message.seq };
    } catch (error) {
      if (isNoMessage(error)) return NO_STREAM;
      throw error;
    }
  }

  /** Replays an aggregate (snapshot + tail) into state. A missing aggregate yields the initial state at NO_STREAM. */
  async load<S>(aggregate: AggregateName | string, id: string, reducer: Reducer<S>): Promise<Loaded<S>> {
    const subject = Subjects.event(aggregate as AggregateName, id);
    const last = await this.currentRevision(subject);
    if (last.sequence === 0) return { state: reducer.initialState(), revision: NO_STREAM };

    const cacheKey = this.snapshotKey(subject, reducer as Reducer<unknown>);
    const cached = this.cache.get(cacheKey) as Loaded<S> | undefined;
    if (cached && cached.revision.sequence === last.sequence) return cached;

    let state = reducer.initialState();
    let revision: Revision = NO_STREAM;
    const snapshot = cached && cached.revision.sequence < last.sequence ? cached : await this.readSnapshot<S>(subject, reducer);
    if (snapshot && snapshot.revision.sequence <= last.sequence) ({ state, revision } = snapshot);
    if (revision.sequence < last.sequence) {
      for await (const recorded of this.readStream(subject, revision.sequence + 1, last.sequence, true)) {
        state = reducer.evolve(state, recorded.event);
        revision = { version: recorded.event.aggregateversion, sequence: recorded.sequence };
      }
    }
    const crossed = Math.floor(revision.version / this.snapshotEvery) > Math.floor((snapshot?.revision.version ?? 0) / this.snapshotEvery);
    if (crossed || this.pendingSnapshot.delete(subject)) await this.writeSnapshot(subject, reducer, { state, revision });
    this.remember(cacheKey, { state, revision });
    return { state, revision };
  }

  /**
   * Reads the events of one aggregate (or any subject filter) from `fromSequence` up to `toSequence`,
   * validated, through the kernel's range reader (ends at once when nothing matches).
   * @param toMatches the event at `toSequence` matches the filter (an aggregate's last sequence)
   */
  async *readStream(filterSubject: string, fromSequence = 1, toSequence?: number, toMatches = false): AsyncGenerator<RecordedEvent> {
    for await (const m of readRange(this.nc, { stream: STREAMS.events, filterSubject, from: fromSequence, to: toSequence, toMatches })) {
      const event = codec.decode(m.data);
      event.data = readEventData(event.type, event.data);
      yield { sequence: m.seq, event };
    }
  }

  /** Reads a page of the whole log by stream sequence (the REST event feed). */
  async readAll(options: { after?: number; limit: number; filterSubject?: string; type?: string }): Promise<RecordedEvent[]> {
    const info = await this.jsm.streams.info(STREAMS.events);
    const result: RecordedEvent[] = [];
    const from = Math.max((options.after ?? 0) + 1, info.state.first_seq);
    if (info.state.messages === 0 || from > info.state.last_seq) return result;
    for await (const recorded of this.readStream(options.filterSubject ?? Subjects.allEvents, from, info.state.last_seq)) {
      if (options.type && recorded.event.type !== options.type) continue;
      result.push(recorded);
      if (result.length >= options.limit) break;
    }
    return result;
  }

  /** Last sequence of stream EVENTS (0 when empty). */
  async lastSequence(): Promise<number> {
    return (await this.jsm.streams.info(STREAMS.events)).state.last_seq;
  }

  private bucket(): Promise<KV> {
    this.snapshots ??= this.js.views.kv(SNAPSHOT_BUCKET, { history: 1, storage: 'file' as never, replicas: streamReplicas() });
    return this.snapshots;
  }

  private snapshotKey(subject: string, reducer: Reducer<unknown>): string {
    return `${reducer.name}.${subject.replace(/^evt\./, '')}`;
  }

  private async readSnapshot<S>(subject: string, reducer: Reducer<S>): Promise<Loaded<S> | undefined> {
    try {
      const entry = await (await this.bucket()).get(this.snapshotKey(subject, reducer as Reducer<unknown>));
      if (!entry || entry.operation !== 'PUT') return undefined;
      return entry.json<Loaded<S>>();
    } catch {
      return undefined;
    }
  }

  private async writeSnapshot<S>(subject: string, reducer: Reducer<S>, loaded: Loaded<S>): Promise<void> {
    try {
      await (await this.bucket()).put(this.snapshotKey(subject, reducer as Reducer<unknown>), JSON.stringify(loaded));
    } catch {
      // A snapshot is an optimisation; failing to write one only makes the next load replay more.
    }
  }
}

function isWrongLastSequence(error: unknown): boolean {
  const api = (error as { api_error?: { err_code?: number } }).api_error;
  return api?.err_code === JS_WRONG_LAST_SEQUENCE || /wrong last sequence/i.test(String((error as Error)?.message));
}

function isNoMessage(error: unknown): boolean {
  const e = error as { code?: string; api_error?: { err_code?: number }; message?: string };
  return e.code === '404' || e.api_error?.err_code === 10037 || /no message found/i.test(String(e.message));
}

