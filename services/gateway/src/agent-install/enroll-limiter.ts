import { DomainError } from '@encedeus/contracts';

/** Limits of the enrollment path: failed attempts per window. */
export interface EnrollLimits {
  /** Failed attempts per client address per window. @default 10 */
  perAddress: number;
  /** Failed attempts of all clients together per window (many addresses guessing at once). @default 300 */
  total: number;
  /** @default 60_000 */
  windowMs: number;
}

/**
 * The narrow path's rate limit (`POST /api/v1/agent/enroll`): failed attempts are counted in fixed
 * windows per client address and in total, per gateway instance; past the limit every attempt is
 * refused (429) until the window ends. Agents that enroll fine (a whole rack behind one NAT) never
 * count. A token holds 192 random bits, so this is not what makes guessing hopeless; it keeps a
 * flood of guesses from turning into nodes-service and database work.
 */
export class EnrollLimiter {
  private window = 0;
  private total = 0;
  private readonly failures = new Map<string, number>();

  constructor(private readonly limits: EnrollLimits = { perAddress: 10, total: 300, windowMs: 60_000 }, private readonly now: () => number = Date.now) {}

  /** Throws RATE_LIMITED when this address (or everyone) failed too often in this window. */
  check(address: string): void {
    this.roll();
    if ((this.failures.get(address) ?? 0) >= this.limits.perAddress || this.total >= this.limits.total) {
      const retryAfterSeconds = Math.max(1, Math.ceil(((this.window + 1) * this.limits.windowMs - this.now()) / 1000));
      throw new DomainError('RATE_LIMITED', `Too many failed enrollment attempts; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
    }
  }

  failed(address: string): void {
    this.roll();
    this.failures.set(address, (this.failures.get(address) ?? 0) + 1);
    this.total++;
  }

  private roll(): void {
    const window = Math.floor(this.now() / this.limits.windowMs);
    if (window === this.window) return;
    this.window = window;
    this.total = 0;
    this.failures.clear();
  }
}
