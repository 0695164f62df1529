import { JSONCodec, type NatsConnection, type Subscription } from 'nats';
import { Subjects, type Heartbeat } from '@encedeus/contracts';

export interface LivenessOptions {
  /** Missed heartbeats before a node is offline. @default 3 */
  missed?: number;
  /** Heartbeat period assumed before a node told us its own. @default 5000 */
  defaultIntervalMs?: number;
  /** How often deadlines are checked. @default 200 */
  sweepMs?: number;
  /** Whether this instance declares nodes offline from the start (see setSweeping). @default true */
  sweeping?: boolean;
}

export interface LivenessEvents {
  online(nodeId: string, at: Date): void;
  offline(nodeId: string, lastSeenAt: Date | null, missed: number): void;
  /** Every heartbeat, after liveness took it into account. */
  heartbeat?(nodeId: string, hb: Heartbeat): void;
}

interface Entry {
  lastSeen: number;
  deadline: number;
  intervalMs: number;
  online: boolean;
}

const codec = JSONCodec<Heartbeat>();

/**
 * Liveness of agents from `agent.*.heartbeat` (core NATS). One map of deadlines swept every
 * `sweepMs`: O(nodes) per sweep, ~2 µs per node, so 2,000 agents cost well under a millisecond.
 * A node is offline when `missed` × its interval passed without a heartbeat (see deadlineOf).
 */
export class Liveness {
  private readonly entries = new Map<string, Entry>();
  private sub?: Subscription;
  private timer?: NodeJS.Timeout;
  private readonly missed: number;
  private readonly defaultIntervalMs: number;
  private readonly sweepMs: number;
  private sweeping: boolean;
  private readonly lags = new Float64Array(4096);
  private lagCount = 0;
  private processed = 0;

  constructor(
    private readonly nc: NatsConnection,
    private events: LivenessEvents,
    private readonly options: LivenessOptions = {},
  ) {
    this.missed = options.missed ?? 3;
    this.defaultIntervalMs = options.defaultIntervalMs ?? 5000;
    this.sweepMs = options.sweepMs ?? 200;
    this.sweeping = options.sweeping ?? true;
  }

  /** Who hears of nodes coming and going (bound after construction: the handlers need liveness too). */
  on(events: LivenessEvents): void {
    this.events = events;
  }

  /**
   * Only the holder of the fleet-liveness lease declares nodes offline; the other replicas keep
   * tracking heartbeats, so a replica that takes the sweep over starts with fresh deadlines. Turning
   * it on sweeps at once: nodes whose deadline passed meanwhile are declared offline now.
   */
  setSweeping(on: boolean): void {
    if (this.sweeping === on) return;
    this.sweeping = on;
    if (on && this.timer) this.sweep();
  }

  /** Whether this instance declares nodes offline (holds the lease). */
  isSweeping(): boolean {
    return this.sweeping;
  }

  /**
   * When a node that beat at `now` with this interval is declared offline. A sweep may see a passed
   * deadline up to `sweepMs` late, so the deadline is that much earlier: a node is offline no later
   * than `missed × interval` after its last heartbeat (15 s for 3 × 5 s), never later.
   */
  private deadlineOf(now: number, intervalMs: number): number {
    return now + Math.max(intervalMs, this.missed * intervalMs - this.sweepMs);
  }

  start(): void {
    this.sub = this.nc.subscribe(Subjects.agentHeartbeats, {
      callback: (err, msg) => {
        if (err) return;
        const nodeId = msg.subject.split('.')[1];
        let hb: Heartbeat | undefined;
        try {
          hb = codec.decode(msg.data);
        } catch {
          hb = undefined;
        }
        this.beat(nodeId, hb);
        if (hb) this.events.heartbeat?.(nodeId, hb);
      },
    });
    this.timer = setInterval(() => this.sweep(), this.sweepMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.sub?.unsubscribe();
  }

  /** Nodes the read model believes online at boot: they get one full window to prove it. */
  seed(nodeIds: string[]): void {
    const now = Date.now();
    for (const id of nodeIds) {
      if (!this.entries.has(id)) this.entries.set(id, { lastSeen: now, deadline: this.deadlineOf(now, this.defaultIntervalMs), intervalMs: this.defaultIntervalMs, online: true });
    }
  }

  /** Forget a deleted node. */
  forget(nodeId: string): void {
    this.entries.delete(nodeId);
  }

  /** Records a heartbeat (also used for other signs of life, e.g. a boot report). */
  beat(nodeId: string, hb?: Heartbeat): void {
    const now = Date.now();
    this.processed++;
    if (hb && typeof hb.at === 'number') this.lags[this.lagCount++ % this.lags.length] = Math.max(0, now - hb.at);
    const entry = this.entries.get(nodeId);
    // A replica that does not sweep never marks a node offline: a beat after a passed deadline is a
    // return all the same (the sweeping replica may have declared it offline meanwhile).
    const lapsed = !this.sweeping && entry !== undefined && now > entry.deadline;
    // A sign of life without a heartbeat (a boot report) keeps the interval the agent declared.
    const intervalMs = hb?.interval_ms && hb.interval_ms > 0 ? hb.interval_ms : (entry?.intervalMs ?? this.defaultIntervalMs);
    const deadline = this.deadlineOf(now, intervalMs);
    if (entry) {
      entry.lastSeen = now;
      entry.deadline = deadline;
      entry.intervalMs = intervalMs;
      if (entry.online && !lapsed) return;
      entry.online = true;
    } else {
      this.entries.set(nodeId, { lastSeen: now, deadline, intervalMs, online: true });
    }
    this.events.online(nodeId, new Date(now));
  }

  /**
   * Another sign of life, such as an answered command: it pushes the deadline like a heartbeat but
   * never brings an offline node back (only heartbeats do, with their came_online). Heartbeats
   * published while the agent reconnects onto new credentials arrive late; its answers do not.
   */
  touch(nodeId: string): void {
    const entry = this.entries.get(nodeId);
    const now = Date.now();
    if (!entry?.online || (!this.sweeping && now > entry.deadline)) return;
    entry.lastSeen = now;
    entry.deadline = Math.max(entry.deadline, this.deadlineOf(now, entry.intervalMs));
  }

  /** Online as far as this instance knows; a replica that does not sweep also checks the deadline. */
  isOnline(nodeId: string): boolean {
    const entry = this.entries.get(nodeId);
    if (!entry?.online) return false;
    return this.sweeping || Date.now() <= entry.deadline;
  }

  lastSeen(nodeId: string): Date | null {
    const entry = this.entries.get(nodeId);
    return entry ? new Date(entry.lastSeen) : null;
  }

  /** Heartbeat processing lag (agent clock → here) over the last 4,096 beats, and counts. */
  stats(): { tracked: number; online: number; sweeping: boolean; processed: number; lagP50Ms: number; lagP99Ms: number; lagMaxMs: number } {
    const n = Math.min(this.lagCount, this.lags.length);
    const sorted = Array.from(this.lags.subarray(0, n)).sort((a, b) => a - b);
    const q = (p: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(p * n))]);
    let online = 0;
    for (const id of this.entries.keys()) if (this.isOnline(id)) online++;
    return { tracked: this.entries.size, online, sweeping: this.sweeping, processed: this.processed, lagP50Ms: q(0.5), lagP99Ms: q(0.99), lagMaxMs: n ? sorted[n - 1] : 0 };
  }

  private sweep(): void {
    if (!this.sweeping) return;
    const now = Date.now();
    for (const [nodeId, entry] of this.entries) {
      if (entry.online && now > entry.deadline) {
        entry.online = false;
        this.events.offline(nodeId, new Date(entry.lastSeen), this.missed);
      }
    }
  }
}
