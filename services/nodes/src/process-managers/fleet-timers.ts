import { Logger } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { Lease } from '@encedeus/messaging';
import type { FleetReadModel } from '../queries/fleet.read-model';
import type { InstallServerProcessManager } from './install-server.process-manager';
import type { RestartServerProcessManager } from './restart-server.process-manager';

/** Longest wait in stop() for started work before the lease is released. */
const STOP_WAIT_MS = 10_000;

export interface FleetTimersOptions {
  /** How often the holder looks for due work. @default 250 */
  pollMs?: number;
  ttlMs?: number;
  renewMs?: number;
}

/**
 * Runs the process managers' timers on one replica: the holder of the lease `nodes.fleet-timers`
 * polls the read model for due crash restarts, install retries and installs past their deadline (their schedules are columns
 * derived from events) and hands each to its process manager. Nothing of the schedule lives in
 * memory: a replica that takes the lease over, or a restarted service, finds the same due work.
 * A process manager decides on the aggregate, not on the row, so a stale row costs one load.
 */
export class FleetTimers {
  private readonly logger = new Logger('FleetTimers');
  private lease?: Lease;
  private timer?: NodeJS.Timeout;
  private running = false;
  private polling?: Promise<void>;
  /** Work started and not ended, by key (restart/<id>, install/<id>, install-deadline/<id>). */
  private readonly working = new Map<string, Promise<void>>();
  private readonly pollMs: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly readModel: FleetReadModel,
    private readonly installs: InstallServerProcessManager,
    private readonly restarts: RestartServerProcessManager,
    private readonly options: FleetTimersOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 250;
  }

  /** Whether this replica runs the timers now. */
  isRunning(): boolean {
    return this.lease?.isHeld() ?? false;
  }

  async start(): Promise<void> {
    this.running = true;
    this.lease = new Lease(this.nc, {
      service: 'nodes',
      name: 'fleet-timers',
      ttlMs: this.options.ttlMs,
      renewMs: this.options.renewMs,
      onAcquired: () => {
        this.logger.log('this replica runs the restart and install timers');
        this.nudge();
      },
      onLost: (reason) => this.logger.warn(`timers lease lost (${reason}); another replica runs them`),
      onError: (error) => this.logger.warn(`timers lease: ${error.message}`),
    });
    await this.lease.start();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.polling;
    // The lease goes to another replica only once the work this one started has ended (bounded):
    // released earlier, the successor would find the same install or restart due and start it again.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(this.working.values()), new Promise((r) => (timer = setTimeout(r, STOP_WAIT_MS)))]);
    clearTimeout(timer);
    await this.lease?.stop();
  }

  /** Looks for due work now (a create just asked for an install) instead of at the next poll. */
  nudge(): void {
    if (!this.running || !this.isRunning()) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll(), 0);
    this.timer.unref();
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = this.runDue().catch((error: Error) => this.logger.warn(`timers: ${error.message}`));
    await this.polling;
    this.polling = undefined;
    this.schedule();
  }

  private async runDue(): Promise<void> {
    if (!this.isRunning()) return;
    const now = new Date();
    const [restarts, installs, overdue] = await Promise.all([
      this.readModel.restartsDue(now),
      this.readModel.installsDue(now),
      this.readModel.installsOverdue(now, this.installs.deadlineS),
    ]);
    for (const { id } of restarts) this.spawn(`restart/${id}`, () => this.restarts.restart(id, now));
    for (const { id } of installs) this.spawn(`install/${id}`, () => this.installs.install(id, now));
    // Its own key: an attempt of the same install may still wait on a frozen agent (install/<id>).
    for (const { id } of overdue) this.spawn(`install-deadline/${id}`, () => this.installs.endOverdue(id, now));
  }

  /** Runs one piece of due work unless it is already running (an install may take minutes). */
  private spawn(key: string, work: () => Promise<void>): void {
    if (this.working.has(key)) return;
    const running = work()
      .catch((error: Error) => this.logger.warn(`${key}: ${error.message}`))
      .finally(() => this.working.delete(key));
    this.working.set(key, running);
  }
}
