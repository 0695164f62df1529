import type { JsMsg, NatsConnection } from 'nats';
import { DomainError } from '@encedeus/contracts';

/** Which messages of a stream to read. */
export interface ReadRangeOptions {
  stream: string;
  /** One subject filter (nats-server 2.9: a single filter per consumer), e.g. `evt.server.<id>` or `evt.>`. */
  filterSubject: string;
  /** First stream sequence. @default 1 */
  from?: number;
  /** Start at the first message stored at or after this time instead of `from`. */
  startTime?: Date;
  /** Last stream sequence read. @default the stream's last sequence when the read starts */
  to?: number;
  /** Messages per pull. @default 512 */
  batch?: number;
  /** Longest wait for the next message before the read fails with SERVICE_UNAVAILABLE. @default 10000 */
  idleTimeoutMs?: number;
  /**
   * The caller knows the message at `to` matches the filter (an aggregate's last sequence, say), so
   * the read cannot come up empty: skips the pending-count round trip. @default false
   */
  toMatches?: boolean;
  /** Deliver headers only, the payload's size in `Nats-Msg-Size` (e.g. listing large messages). @default false */
  headersOnly?: boolean;
}

/**
 * The one range reader of the code base (DESIGN.md §4a): the messages of a stream matching
 * `filterSubject` from `from` (or `startTime`) to `to`, in order, through an ordered consumer that
 * is removed afterwards. It ends by itself — at `to`, when nothing matching is pending, or at once
 * when nothing matches at all (the consumer's pending count, known when it is created, decides; a
 * bare `consume()` would wait forever there). Breaking out of the loop early is fine.
 */
export async function* readRange(nc: NatsConnection, options: ReadRangeOptions): AsyncGenerator<JsMsg> {
  const from = Math.max(1, options.from ?? 1);
  const end = options.to ?? (await (await nc.jetstreamManager()).streams.info(options.stream)).state.last_seq;
  if (end < from) return;
  const consumer = await nc.jetstream().consumers.get(options.stream, {
    filterSubjects: options.filterSubject,
    ...(options.headersOnly ? { headers_only: true } : {}),
    ...(options.startTime ? { opt_start_time: options.startTime.toISOString() } : { opt_start_seq: from }),
  });
  try {
    // On a fresh ordered consumer, info() creates it (the request consume() would send) and
    // answers how many matching messages it has to deliver.
    if (!(options.toMatches && options.to !== undefined)) {
      const created = await consumer.info(true);
      if (created.num_pending === 0) return;
    }
    const messages = await consumer.consume({ max_messages: options.batch ?? 512 });
    const idleMs = options.idleTimeoutMs ?? 10_000;
    let idle = false;
    let timer = setTimeout(() => { idle = true; void messages.close().catch(() => undefined); }, idleMs);
    try {
      for await (const m of messages) {
        clearTimeout(timer);
        if (m.seq > end) return;
        yield m;
        if (m.seq >= end || m.info.pending === 0) return;
        timer = setTimeout(() => { idle = true; void messages.close().catch(() => undefined); }, idleMs);
      }
      if (idle) throw new DomainError('SERVICE_UNAVAILABLE', `messaging/read-range: no message of ${options.filterSubject} on ${options.stream} within ${idleMs} ms`);
    } finally {
      clearTimeout(timer);
      void messages.close().catch(() => undefined);
    }
  } finally {
    // Ordered consumers live in memory for five idle minutes otherwise; removing it is not on the caller's path.
    void consumer.delete().catch(() => undefined);
  }
}
