/** Options of {@link backoffDelay}. */
export interface BackoffOptions {
  /** Delay before the first retry. @default 500 */
  baseMs?: number;
  /** Upper bound of any delay. @default 30000 */
  maxMs?: number;
  /** Growth per attempt. @default 2 */
  factor?: number;
  /** Share of the delay that is randomised (0 = none, 1 = "full jitter"). @default 0.5 */
  jitter?: number;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): exponential, capped, with jitter so that a
 * thousand consoles dropped by one gateway restart do not reconnect in the same millisecond.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const { baseMs = 500, maxMs = 30_000, factor = 2, jitter = 0.5 } = options;
  const n = Math.max(0, Math.floor(attempt));
  const exp = Math.min(maxMs, baseMs * Math.pow(factor, n));
  const j = Math.min(1, Math.max(0, jitter));
  return Math.round(exp * (1 - j) + exp * j * random());
}
