import { ACCOUNT_FREE, ACCOUNT_MAX_DELAY_S, accountDelaySeconds, limitOf, windowOf } from './login-limits';

describe('login limits', () => {
  it('limits a pair tightly and an address ten times looser, both per minute', () => {
    expect(limitOf('pair', 5)).toBe(5);
    expect(limitOf('ip', 5)).toBe(50);
    expect(windowOf('pair')).toBe(60_000);
  });

  it('lets an account through without delay up to its free attempts', () => {
    const delays = Array.from({ length: ACCOUNT_FREE }, (_, i) => accountDelaySeconds(i + 1));

    expect(delays.every((d) => d === 0)).toBe(true);
  });

  it('never locks an account out: beyond the free attempts the delay doubles and is capped', () => {
    const delays = [1, 2, 3, 4, 40].map((n) => accountDelaySeconds(ACCOUNT_FREE + n));

    expect(delays).toEqual([1, 2, 4, 8, ACCOUNT_MAX_DELAY_S]);
  });
});
