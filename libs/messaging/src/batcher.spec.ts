import { Batcher } from './batcher';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Batcher', () => {
  it('sends a full batch at once; a lone item waits for the delay', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number>(async (items) => void batches.push(items), { maxWeight: 3, maxDelayMs: 40 });
    const started = Date.now();
    await Promise.all([1, 2, 3].map((n) => batcher.add(n)));
    expect(Date.now() - started).toBeLessThan(30);
    await batcher.add(4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('keeps at most `concurrency` writes running; what arrives meanwhile makes the next batch without a timer', async () => {
    let running = 0;
    let most = 0;
    const sizes: number[] = [];
    const batcher = new Batcher<number>(
      async (items) => {
        running++;
        most = Math.max(most, running);
        await tick(15);
        running--;
        sizes.push(items.length);
      },
      { maxWeight: 100, maxDelayMs: 1, concurrency: 2 },
    );
    const first = batcher.add(0);
    await tick(3);
    const second = batcher.add(1);
    await tick(3);
    const rest = Array.from({ length: 20 }, (_, i) => batcher.add(i + 2));
    await Promise.all([first, second, ...rest]);
    expect(most).toBe(2);
    expect(sizes).toEqual([1, 1, 20]);
  });

  it('weighs items: a heavy one makes a batch of its own and never splits', async () => {
    const batches: string[][] = [];
    const batcher = new Batcher<string>(async (items) => void batches.push(items), { maxWeight: 10, maxDelayMs: 1 });
    await Promise.all([batcher.add('a', 4), batcher.add('huge', 25), batcher.add('b', 4)]);
    expect(batches).toEqual([['a'], ['huge'], ['b']]);
  });

  it('rejects the callers of a failed batch only, also when write throws at once', async () => {
    const batcher = new Batcher<string>(
      (items) => {
        if (items.includes('bad')) throw new Error('refused');
        return Promise.resolve();
      },
      { maxWeight: 2, maxDelayMs: 1 },
    );
    const results = await Promise.allSettled(['bad', 'x', 'good', 'y'].map((s) => batcher.add(s)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[0] as PromiseRejectedResult).reason.message).toBe('refused');
  });

  it('settles each caller with its own outcome when write answers one per item', async () => {
    const batcher = new Batcher<string>(async (items) => items.map((s) => (s.startsWith('bad') ? new Error(`refused ${s}`) : undefined)), { maxWeight: 10, maxDelayMs: 1 });

    const results = await Promise.allSettled(['a', 'bad-1', 'b', 'bad-2'].map((s) => batcher.add(s)));

    expect(results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as Error).message))).toEqual(['ok', 'refused bad-1', 'ok', 'refused bad-2']);
  });

  it('never runs more than `concurrency` writes, whichever of timer, full batch, flush or finishing write starts the next', async () => {
    let running = 0;
    let most = 0;
    let written = 0;
    const batcher = new Batcher<number>(
      async (items) => {
        running++;
        most = Math.max(most, running);
        await tick(1 + (items[0] % 4));
        running--;
        written += items.length;
      },
      { maxWeight: 5, maxDelayMs: 2, concurrency: 2 },
    );
    const adds: Promise<void>[] = [];

    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < round % 7; i++) adds.push(batcher.add(round * 10 + i, 1 + (i % 3)));
      if (round % 9 === 0) void batcher.flush();
      await tick(round % 3);
    }
    await Promise.all(adds);

    expect(written).toBe(adds.length);
    expect(most).toBe(2);
  });

  it('flush writes what waits and resolves once everything is written', async () => {
    const written: number[] = [];
    const batcher = new Batcher<number>(async (items) => {
      await tick(5);
      written.push(...items);
    }, { maxWeight: 1000, maxDelayMs: 10_000 });
    void batcher.add(1);
    void batcher.add(2);
    await batcher.flush();
    expect(written).toEqual([1, 2]);
  });
});
