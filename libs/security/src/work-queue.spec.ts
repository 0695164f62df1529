import { WorkQueue } from './work-queue';

const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
};

describe('WorkQueue', () => {
  it('runs at most `concurrency` jobs at once and the rest in order', async () => {
    const queue = new WorkQueue({ concurrency: 2, maxWaitMs: 10_000, maxQueued: 10 });
    const gates = [gate(), gate(), gate()];
    const started: number[] = [];

    const runs = gates.map((g, i) => queue.run(async () => { started.push(i); await g.opened; return i; }));
    await Promise.resolve();

    expect(started).toEqual([0, 1]);
    expect(queue.load).toEqual({ running: 2, waiting: 1 });
    gates[0].open();
    await runs[0];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    gates[1].open();
    gates[2].open();
    expect(await Promise.all(runs)).toEqual([0, 1, 2]);
  });

  it('refuses at once with RATE_LIMITED and a retry time when the queue is full', async () => {
    const queue = new WorkQueue({ concurrency: 1, maxWaitMs: 10_000, maxQueued: 1 });
    const g = gate();
    const first = queue.run(() => g.opened);
    const second = queue.run(async () => undefined);

    const third = queue.run(async () => undefined);

    await expect(third).rejects.toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterSeconds: expect.any(Number) } });
    g.open();
    await first;
    await second;
  });

  it('refuses a job that waited longer than maxWaitMs without running it', async () => {
    const queue = new WorkQueue({ concurrency: 1, maxWaitMs: 20, maxQueued: 5 });
    const g = gate();
    const first = queue.run(() => g.opened);
    let ran = false;
    const late = queue.run(async () => { ran = true; });

    const refused = expect(late).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await new Promise((r) => setTimeout(r, 40));
    g.open();
    await first;

    await refused;
    expect(ran).toBe(false);
  });
});
