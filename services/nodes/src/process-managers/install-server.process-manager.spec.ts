import { installRetryAt, INSTALL_RETRIES_MS } from './install-server.process-manager';

describe('installRetryAt', () => {
  const now = new Date('2026-11-30T12:00:00.000Z');

  it('retries an unreachable agent after 1 s, 3 s and 10 s', () => {
    const at = [1, 2, 3].map((attempt) => installRetryAt(attempt, true, now));

    expect(at).toEqual(INSTALL_RETRIES_MS.map((ms) => new Date(now.getTime() + ms).toISOString()));
  });

  it('leaves the install to the next sync after the last retry, or after another error', () => {
    expect(installRetryAt(4, true, now)).toBeNull();
    expect(installRetryAt(1, false, now)).toBeNull();
  });
});
