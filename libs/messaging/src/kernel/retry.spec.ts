import { exponentialBackoff, retry } from './retry';

describe('retry', () => {
  it('returns the first success', async () => {
    const work = jest.fn().mockRejectedValueOnce(new Error('once')).mockResolvedValue('ok');

    await expect(retry(work, { attempts: 3 })).resolves.toBe('ok');
    expect(work).toHaveBeenCalledTimes(2);
    expect(work.mock.calls.map(([attempt]) => attempt)).toEqual([1, 2]);
  });

  it('throws the last failure when the attempts are spent', async () => {
    let n = 0;
    const work = jest.fn(async () => {
      throw new Error(`failure ${++n}`);
    });

    await expect(retry(work, { attempts: 3 })).rejects.toThrow('failure 3');
    expect(work).toHaveBeenCalledTimes(3);
  });

  it('does not retry a failure retryIf refuses', async () => {
    const work = jest.fn(async () => {
      throw new TypeError('fatal');
    });

    await expect(retry(work, { attempts: 5, retryIf: (e) => !(e instanceof TypeError) })).rejects.toThrow('fatal');
    expect(work).toHaveBeenCalledTimes(1);
  });

  it('waits the back-off of the failed attempt before the next one and reports each retry', async () => {
    const pauses: number[] = [];
    const retried: number[] = [];
    const work = jest.fn().mockRejectedValueOnce(new Error('1')).mockRejectedValueOnce(new Error('2')).mockResolvedValue('ok');

    await retry(work, {
      attempts: 3,
      backoffMs: (attempt) => {
        pauses.push(attempt);
        return 1;
      },
      onRetry: (_e, attempt) => retried.push(attempt),
    });

    expect(pauses).toEqual([1, 2]);
    expect(retried).toEqual([1, 2]);
  });
});

describe('exponentialBackoff', () => {
  it('doubles the ceiling per attempt up to the maximum', () => {
    const top = exponentialBackoff(10, 50, () => 0.999999);

    expect([1, 2, 3, 4, 5].map(top)).toEqual([9, 19, 39, 49, 49]);
  });

  it('jitters down to zero', () => {
    expect(exponentialBackoff(10, 50, () => 0)(3)).toBe(0);
  });
});
