import { Logger } from '@nestjs/common';
import type { Consumer, ConsumeOptions, ConsumerMessages, JsMsg, NatsConnection } from 'nats';

/** Where an ordered consumer starts the first time it is opened. */
export type StartAt =
  /** Only what is appended from now on (the stream's last sequence when the loop starts, plus one). */
  | 'new'
  /** From this stream sequence (1 = the whole stream). */
  | { sequence: number };

/** What a ConsumeLoop reads and what it does with each message. */
export interface ConsumeLoopOptions {
  /** Name used in log lines, e.g. `identity` or `Projector:gateway_audit`. */
  name: string;
  /**
   * Opens the consumer to read. Called at start and again after every failure, with the sequence
   * of the last message `handle` completed (0 when none): an ordered consumer resumes after it, a
   * durable one resumes where the server keeps it.
   */
  open(lastSequence: number): Promise<Consumer>;
  /**
   * Handles one message, awaited, in stream order. A throw ends this consumer: the loop logs it,
   * pauses and re-opens after the last completed message, so the same message comes again. A
   * handler that must skip a poison message catches its own error.
   */
  handle(m: JsMsg): void | Promise<void>;
  /** Called when a consumer's messages end (stop, failure, deleted consumer), e.g. to flush a batch. May throw. */
  drained?(): void | Promise<void>;
  /** Options of `consume()`. @default { max_messages: 1000 } */
  consume?: ConsumeOptions;
  /** Pause between a failure and the next open. @default 250 */
  retryDelayMs?: number;
  /** Whether the connection is gone for good; the loop then ends instead of retrying. */
  closed?(): boolean;
  /** Logs a failure before the retry. @default a warning with the error's message */
  onError?(error: Error, lastSequence: number): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The one consume loop of the code base (DESIGN.md §4a): reads a JetStream consumer message by
 * message until stopped, and survives what a long-lived reader meets — a consumer deleted under it,
 * a server restart, a handler that failed — by re-opening after the last message it completed.
 * Nothing is skipped and nothing is handled twice by one loop (an ordered consumer re-opened at
 * `lastSequence + 1`; a durable consumer redelivers what was not acknowledged, and its projector
 * checks its checkpoint).
 *
 * `ConsumeLoop.ordered()` builds the common case: one ephemeral ordered consumer per process
 * (every instance sees every message: live pushes, in-memory caches, a follower that waits for one
 * event).
 */
export class ConsumeLoop {
  private readonly logger: Logger;
  private stopped = true;
  private loop?: Promise<void>;
  private messages?: ConsumerMessages;
  private last = 0;
  private failure?: Error;

  constructor(private readonly options: ConsumeLoopOptions) {
    this.logger = new Logger(options.name);
  }

  /**
   * An ordered (ephemeral, per-process) consumer of `stream` filtered by `filterSubject`, starting
   * at `from` and, after a failure, right after the last message handled.
   */
  static ordered(
    nc: NatsConnection,
    options: Omit<ConsumeLoopOptions, 'open' | 'closed'> & { stream: string; filterSubject: string; from: StartAt },
  ): ConsumeLoop {
    let first: number | undefined = options.from === 'new' ? undefined : Math.max(1, options.from.sequence);
    return new ConsumeLoop({
      ...options,
      closed: () => nc.isClosed(),
      open: async (lastSequence) => {
        // 'new' is pinned to a sequence on the first open, so a re-open before the first message
        // still starts there and loses nothing appended in between.
        first ??= (await (await nc.jetstreamManager()).streams.info(options.stream)).state.last_seq + 1;
        const start = lastSequence > 0 ? lastSequence + 1 : first;
        return nc.jetstream().consumers.get(options.stream, { filterSubjects: options.filterSubject, opt_start_seq: start });
      },
    });
  }

  /** Sequence of the last message `handle` completed (0 before the first). */
  get lastSequence(): number {
    return this.last;
  }

  /** Whether the loop runs (started and not stopped). */
  get running(): boolean {
    return !this.stopped;
  }

  /**
   * Starts reading. Resolves once the first consumer is open, so every message appended after it
   * resolves is read; a failing first open is retried (in the background after it resolved false)
   * until `stop()`. Resolves true when open, false if stopped before.
   */
  start(): Promise<boolean> {
    if (!this.stopped) return Promise.resolve(true);
    this.stopped = false;
    return new Promise((resolve) => {
      this.loop = this.run(resolve).finally(() => resolve(false));
    });
  }

  /** Stops reading; a message being handled finishes first (bounded by `timeoutMs`). */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Not awaited: close() settles only once the loop has left the iterator, which a slow handler delays.
    void this.messages?.close().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop?.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.loop = undefined;
  }

  /**
   * Ends the current consumer as a throwing `handle` would: `onError` gets `error`, and the loop
   * re-opens after the pause. For work `handle` started and did not await (e.g. a batch committed
   * on a timer), whose failure would otherwise go unseen. Ignored when stopped.
   */
  fail(error: Error): void {
    if (this.stopped) return;
    this.failure ??= error;
    void this.messages?.close().catch(() => undefined);
  }

  private async run(opened: (open: boolean) => void): Promise<void> {
    while (!this.stopped) {
      try {
        const consumer = await this.options.open(this.last);
        if (this.stopped) break;
        // A failure reported while this consumer was opened belonged to the one before it.
        this.failure = undefined;
        const messages = await consumer.consume(this.options.consume ?? { max_messages: 1000 });
        this.messages = messages;
        if (this.stopped) void messages.close().catch(() => undefined);
        opened(true);
        try {
          for await (const m of messages) {
            if (this.stopped || this.failure) break;
            await this.options.handle(m);
            this.last = Math.max(this.last, m.seq);
          }
        } finally {
          void messages.close().catch(() => undefined);
        }
        if (this.failure) throw this.failure;
        await this.options.drained?.();
      } catch (error) {
        if (this.stopped || this.options.closed?.()) break;
        if (this.options.onError) this.options.onError(error as Error, this.last);
        else this.logger.warn(`consumer failed, resuming after ${this.last}: ${(error as Error).message}`);
      }
      if (this.options.closed?.()) break;
      if (!this.stopped) await sleep(this.options.retryDelayMs ?? 250);
    }
  }
}
