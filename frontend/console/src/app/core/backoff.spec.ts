import { backoffDelay } from './backoff';

describe('backoffDelay', () => {
  it('doubles from the base delay when jitter is off', () => {
    const delays = [0, 1, 2, 3].map((a) => backoffDelay(a, { baseMs: 100, jitter: 0 }));

    expect(delays).toEqual([100, 200, 400, 800]);
  });

  it('never exceeds the maximum', () => {
    const delay = backoffDelay(50, { baseMs: 500, maxMs: 30_000, jitter: 0 });

    expect(delay).toBe(30_000);
  });

  it('randomises only the jittered share of the delay', () => {
    const low = backoffDelay(2, { baseMs: 1000, jitter: 0.5 }, () => 0);
    const high = backoffDelay(2, { baseMs: 1000, jitter: 0.5 }, () => 0.999999);

    expect(low).toBe(2000);
    expect(high).toBe(4000);
  });

  it('treats negative attempts as the first attempt', () => {
    expect(backoffDelay(-3, { baseMs: 250, jitter: 0 })).toBe(250);
  });
});
