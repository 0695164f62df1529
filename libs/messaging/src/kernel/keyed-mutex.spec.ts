import { KeyedMutex } from './keyed-mutex';

describe('KeyedMutex', () => {
  it('runs work on one key one at a time, in arrival order', async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));

    const first = mutex.run('a', async () => {
      log.push('first:start');
      await gate;
      log.push('first:end');
    });
    const second = mutex.run('a', async () => {
      log.push('second');
    });
    await Promise.resolve();
    expect(log).toEqual(['first:start']);
    release();
    await Promise.all([first, second]);

    expect(log).toEqual(['first:start', 'first:end', 'second']);
  });

  it('runs different keys in parallel', async () => {
    const mutex = new KeyedMutex();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const blocked = mutex.run('a', () => gate);

    await expect(mutex.run('b', async () => 'b done')).resolves.toBe('b done');
    release();
    await blocked;
  });

  it('goes on with the next work after a failure and forgets idle keys', async () => {
    const mutex = new KeyedMutex();
    const failed = mutex.run('a', async () => {
      throw new Error('boom');
    });
    const next = mutex.run('a', async () => 'next');

    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
    await new Promise((resolve) => setImmediate(resolve));
    expect(mutex.size).toBe(0);
  });
});
