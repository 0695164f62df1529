export interface RetryOptions {
  /** Total attempts, the first included (at least 1). */
  attempts: number;
  /** Whether a failure of attempt `attempt` (1-based) is worth another try. @default every failure */
  retryIf?: (error: unknown, attempt: number) => boolean;
  /** Pause before attempt `attempt + 1`, in ms: a constant or a function of the failed attempt. @default 0 */
  backoffMs?: number | ((attempt: number) => number);
  /** Told about every failure that is retried (logging). */
  onRetry?: (error: unknown, attempt: number) => void;
}

/**
 * Runs `work` until it succeeds, a failure is not retryable, or the attempts are spent; the last
 * failure is thrown as it is. `work` gets the 1-based attempt number.
 */
export async function retry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = Math.max(1, Math.floor(options.attempts));
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (error) {
      if (attempt >= attempts || (options.retryIf && !options.retryIf(error, attempt))) throw error;
      options.onRetry?.(error, attempt);
      const pause = typeof options.backoffMs === 'function' ? options.backoffMs(attempt) : (options.backoffMs ?? 0);
      if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

/**
 * Exponential back-off with full jitter: attempt n waits a random time in [0, min(max, base·2^(n-1))].
 * Jitter keeps replicas that failed together from retrying together.
 */
export function exponentialBackoff(baseMs: number, maxMs: number, random: () => number = Math.random): (attempt: number) => number {
  return (attempt) => Math.floor(random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
}
