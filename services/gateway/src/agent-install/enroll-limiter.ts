import { DomainError } from '@encedeus/contracts';

/** Limits of the enrollment path. */
export interface EnrollLimits {
  /** Attempts per client address per window. @default 10 */
  perAddress: number;
  /** Attempts of all clients together per window (many addresses guessing at once). @default 300 */
  total: number;
  /** @default 60_000 */
  windowMs: number;
}

/**
 * The narrow path's rate limit (`POST /api/v1/agent/enroll`): fixed windows per client address and in
 * total, per gateway instance. A token holds 192 random bits, so this is not what makes guessing
 * hopeless; it keeps a flood from turning into nodes-service and database work.
 */
export class EnrollLimiter {
  private window = 0;
  private total = 0;
  private readonly counts = new Map<string, number>();

  constructor(private readonly limits: EnrollLimits = { perAddress: 10, total: 300, windowMs: 60_000 }, private readonly now: () => number = Date.now) {}

  take(address: string): void {
    const window = Math.floor(this.now() / this.limits.windowMs);
    if (window !== this.window) {
      this.window = window;
      this.total = 0;
      this.counts.clear();
    }
    const count = (this.counts.get(address) ?? 0) + 1;
    const retryAfterSeconds = Math.max(1, Math.ceil(((window + 1) * this.limits.windowMs - this.now()) / 1000));
    if (count > this.limits.perAddress || this.total + 1 > this.limits.total) {
      throw new DomainError('RATE_LIMITED', `Too many enrollment attempts; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
    }
    this.counts.set(address, count);
    this.total++;
  }
}
