/**
 * The login limiter's rules. Each attempt counts under three keys:
 * - `pair` (account, client address): tight — `maxPerMinute` attempts a minute;
 * - `ip` (client address): loose — ten times that, against one password sprayed over many accounts;
 * - `account`: never a lockout — after ACCOUNT_FREE attempts in 15 minutes each further one is
 *   admitted only after a delay that doubles (1 s, 2 s, 4 s … at most ACCOUNT_MAX_DELAY_S), so an
 *   attacker on many addresses slows down while the owner can still log in.
 * An attempt counts from its admission (in flight counts like a failure, so parallel requests
 * cannot slip past a limit); a right password takes it back.
 */

export const PAIR_WINDOW_MS = 60_000;
export const ACCOUNT_WINDOW_MS = 15 * 60_000;
export const ACCOUNT_FREE = 10;
export const ACCOUNT_MAX_DELAY_S = 120;

export type LimitKind = 'pair' | 'ip' | 'account';

/** Attempts a key admits in its window (the account's are only delayed beyond this). */
export function limitOf(kind: LimitKind, maxPerMinute: number): number {
  if (kind === 'pair') return maxPerMinute;
  if (kind === 'ip') return maxPerMinute * 10;
  return ACCOUNT_FREE;
}

/** Window of a key (ms). */
export function windowOf(kind: LimitKind): number {
  return kind === 'account' ? ACCOUNT_WINDOW_MS : PAIR_WINDOW_MS;
}

/** Seconds the account waits after admitting its `attempt`-th attempt of the window (1-based). */
export function accountDelaySeconds(attempt: number): number {
  if (attempt <= ACCOUNT_FREE) return 0;
  return Math.min(2 ** (attempt - ACCOUNT_FREE - 1), ACCOUNT_MAX_DELAY_S);
}
