import { hostname } from 'node:os';
import { JSONCodec, nuid, type KV, type KvEntry, type NatsConnection } from 'nats';
import { LEASE_BUCKET, LEASE_BUCKET_MAX_AGE_MS, streamReplicas } from '../streams';

const JS_WRONG_LAST_SEQUENCE = 10071;

/** What the lease's KV entry holds. */
export interface LeaseRecord {
  /** Who holds it (unique per process). */
  holder: string;
  /** How long the holder's last write keeps it, in ms, counted by each reader on its own clock. */
  ttlMs: number;
  /** Set by a holder that shut down: anyone may take the lease at once. */
  released?: boolean;
}

/** The lease as one contender read it: the KV revision and what it holds; null when the key has none. */
export type LeaseRead = { revision: number; record: LeaseRecord | null } | null;

/** When a contender first saw a revision, on its own monotonic clock. */
export interface Sighting {
  revision: number;
  seenAt: number;
}

/** What a contender does next (see nextStep). */
export type LeaseStep =
  | { action: 'create' }
  | { action: 'take'; revision: number }
  | { action: 'wait'; sighting: Sighting; until: number };

/**
 * What a contender `me` does with the lease it read at `now`. Expiry is judged on the reader's own
 * clock, never on a timestamp written by another machine: a revision that stays unchanged for the
 * holder's TTL after this contender first saw it is expired (the holder wrote it before we saw it,
 * so its own validity, counted from before its write, ended first). Clock skew between replicas
 * therefore cannot make two holders; only clock rate could, and the holder keeps a margin for it.
 * A key with no value, a released lease, or our own record (a renew whose ack we lost) is free.
 */
export function nextStep(read: LeaseRead, me: string, previous: Sighting | undefined, now: number): LeaseStep {
  if (!read) return { action: 'create' };
  const { revision, record } = read;
  if (!record || record.released || record.holder === me) return { action: 'take', revision };
  const sighting = previous?.revision === revision ? previous : { revision, seenAt: now };
  const until = sighting.seenAt + record.ttlMs;
  if (now >= until) return { action: 'take', revision };
  return { action: 'wait', sighting, until };
}

/**
 * Until when a holder that started a successful write at `writeStartedAt` may act as the holder:
 * its TTL less a tenth, so that a holder whose timers run late stops before a contender takes over.
 */
export function heldUntil(writeStartedAt: number, ttlMs: number): number {
  return writeStartedAt + ttlMs - Math.ceil(ttlMs / 10);
}

export interface LeaseOptions {
  /** The owning service (its NATS user): the key is `<service>.<name>`, writable only by that user. */
  service: string;
  /** What is leased, e.g. `fleet-liveness`. */
  name: string;
  /** How long a holder keeps the lease without renewing. At most 20 s (the bucket's max age is 60 s). @default 5000 */
  ttlMs?: number;
  /** Renew (or retry to acquire) period. @default ttlMs / 3 */
  renewMs?: number;
  /** This process's holder id. @default `<service>-<host>-<pid>-<nuid>` */
  holder?: string;
  /** Called when this process becomes the holder. */
  onAcquired?: () => void;
  /** Called when this process stops being the holder (taken over, renew failed past its validity, or stop). */
  onLost?: (reason: string) => void;
  /** Logs unexpected errors of the renew loop. @default ignore */
  onError?: (error: Error) => void;
}

const codec = JSONCodec<LeaseRecord>();

/**
 * One holder among the replicas of a service for something that must run once per fleet (DESIGN.md
 * §4a): a key in the JetStream KV bucket `leases`, written only with the KV revision as
 * compare-and-set (`create` for a free key, `update(key, value, revision)` to renew or take over).
 * The holder renews every `renewMs`; a holder that dies is taken over within `ttlMs + renewMs`.
 * `isHeld()` turns false before a contender can take over (see heldUntil).
 */
export class Lease {
  readonly key: string;
  readonly holder: string;
  readonly ttlMs: number;
  readonly renewMs: number;
  private kv?: KV;
  private revision = 0;
  private validUntil = 0;
  private sighting?: Sighting;
  private running = false;
  private timer?: NodeJS.Timeout;
  private expiry?: NodeJS.Timeout;
  private loop?: Promise<void>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: LeaseOptions,
  ) {
    this.key = `${options.service}.${options.name}`;
    this.ttlMs = options.ttlMs ?? 5000;
    if (this.ttlMs > 20_000) throw new Error(`kernel/lease: ttlMs ${this.ttlMs} exceeds 20000 (bucket ${LEASE_BUCKET} keeps values ${LEASE_BUCKET_MAX_AGE_MS} ms)`);
    this.renewMs = options.renewMs ?? Math.floor(this.ttlMs / 3);
    this.holder = options.holder ?? `${options.service}-${hostname()}-${process.pid}-${nuid.next()}`;
  }

  /** True while this process holds the lease and its last renew is still valid on its own clock. */
  isHeld(): boolean {
    return this.validUntil > 0 && now() < this.validUntil;
  }

  /** Starts contending; resolves after the first attempt (held or not). */
  async start(): Promise<void> {
    if (this.running) return;
    this.kv = await this.nc
      .jetstream({ timeout: Math.max(1000, this.renewMs) })
      .views.kv(LEASE_BUCKET, { history: 1, ttl: LEASE_BUCKET_MAX_AGE_MS, storage: 'file' as never, replicas: streamReplicas() });
    this.running = true;
    await this.tick();
  }

  /** Stops contending and releases the lease if held, so another replica takes it at once. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.loop;
    if (this.isHeld() && this.kv) {
      await this.kv.update(this.key, codec.encode({ holder: this.holder, ttlMs: this.ttlMs, released: true }), this.revision).catch(() => undefined);
    }
    this.lose('stopped');
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => void this.tick(), Math.max(0, delayMs));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const run = this.validUntil > 0 ? this.renew() : this.contend();
    this.loop = run.then(
      (next) => this.schedule(next),
      (error: Error) => {
        this.options.onError?.(error);
        this.schedule(this.renewMs);
      },
    );
    await this.loop;
  }

  private async renew(): Promise<number> {
    const startedAt = now();
    try {
      this.revision = await this.kv!.update(this.key, this.encode(), this.revision);
      // A renew that outlived our validity lost the lease (onLost ran) yet still won the write: held
      // again, which the holder must hear, or its work stays stopped while nobody else may take over.
      const regained = this.validUntil === 0;
      this.hold(startedAt);
      if (regained && this.isHeld()) this.options.onAcquired?.();
    } catch (error) {
      if (isRevisionConflict(error)) this.lose('taken over');
      else if (!this.isHeld()) this.lose(`renew failed: ${(error as Error).message}`);
    }
    return this.renewMs;
  }

  private async contend(): Promise<number> {
    const entry = await this.kv!.get(this.key);
    const t = now();
    const step = nextStep(readOf(entry), this.holder, this.sighting, t);
    if (step.action === 'wait') {
      this.sighting = step.sighting;
      return Math.min(this.renewMs, step.until - t);
    }
    try {
      this.revision = step.action === 'create' ? await this.kv!.create(this.key, this.encode()) : await this.kv!.update(this.key, this.encode(), step.revision);
    } catch (error) {
      // Another contender won the race: we will see its revision on the next read.
      if (isRevisionConflict(error)) return 0;
      throw error;
    }
    this.sighting = undefined;
    this.hold(t);
    this.options.onAcquired?.();
    return this.renewMs;
  }

  private hold(writeStartedAt: number): void {
    this.validUntil = heldUntil(writeStartedAt, this.ttlMs);
    clearTimeout(this.expiry);
    // A renew that hangs (no NATS) must not leave us acting as the holder past our validity.
    this.expiry = setTimeout(() => {
      if (!this.isHeld()) this.lose('not renewed in time');
    }, this.validUntil - now() + 1);
    this.expiry.unref();
  }

  private lose(reason: string): void {
    clearTimeout(this.expiry);
    if (this.validUntil === 0) return;
    this.validUntil = 0;
    this.revision = 0;
    this.options.onLost?.(reason);
  }

  private encode(): Uint8Array {
    return codec.encode({ holder: this.holder, ttlMs: this.ttlMs });
  }
}

function now(): number {
  return performance.now();
}

function readOf(entry: KvEntry | null): LeaseRead {
  if (!entry) return null;
  if (entry.operation !== 'PUT' || entry.length === 0) return { revision: entry.revision, record: null };
  try {
    return { revision: entry.revision, record: codec.decode(entry.value) };
  } catch {
    return { revision: entry.revision, record: null };
  }
}

function isRevisionConflict(error: unknown): boolean {
  return (error as { api_error?: { err_code?: number } })?.api_error?.err_code === JS_WRONG_LAST_SEQUENCE;
}
