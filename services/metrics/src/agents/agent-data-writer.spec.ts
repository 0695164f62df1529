import { AgentDataWriter } from './agent-data-writer';
import type { MetricsStore } from '../storage/metrics-store';

/** A store whose writes take `ms` and record how many ran at once; a write `failOn` picks throws `error`. */
function slowStore(ms: number, failOn?: (rows: unknown[]) => boolean, error = new Error('disk full')) {
  const batches: number[] = [];
  let running = 0;
  let most = 0;
  const store = {
    async writeAgentData(rows: unknown[]) {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, ms));
      running--;
      batches.push(rows.length);
      if (failOn?.(rows)) throw error;
    },
  } as unknown as MetricsStore;
  return { store, batches, most: () => most };
}

describe('AgentDataWriter', () => {
  it('writes one batch at a time, gathering what arrives meanwhile into the next', async () => {
    const { store, batches, most } = slowStore(20);
    const writer = new AgentDataWriter(store, 500, 5);
    const first = Array.from({ length: 10 }, (_, i) => writer.write('a', 't', i, { v: i }));
    await new Promise((r) => setTimeout(r, 10)); // the first batch is being written
    const second = Array.from({ length: 30 }, (_, i) => writer.write('a', 't', i, { v: i }));
    await Promise.all([...first, ...second]);
    expect(most()).toBe(1);
    expect(batches).toEqual([10, 30]);
  });

  it('never leaves a write behind, whenever it comes (one after each write ends, for a second)', async () => {
    const { store } = slowStore(1);
    const writer = new AgentDataWriter(store, 3, 1);
    let done = 0;
    const end = Date.now() + 1000;
    await Promise.all(
      Array.from({ length: 8 }, async (_, k) => {
        while (Date.now() < end) {
          await writer.write(`a${k}`, 't', Date.now(), { v: 1 });
          done++;
        }
      }),
    );
    expect(done).toBeGreaterThan(50);
  });

  it('fails only the requests of the batch that failed, without splitting it when the store itself failed', async () => {
    const { store } = slowStore(5, (rows) => rows.some((r) => (r as { agentId: string }).agentId === 'bad'));
    const writer = new AgentDataWriter(store, 2, 1);
    const results = await Promise.allSettled([writer.write('bad', 't', 1, {}), writer.write('x', 't', 1, {}), writer.write('good', 't', 1, {}), writer.write('y', 't', 1, {})]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
  });

  it('refuses only the document whose value the store refuses (retrying the batch in halves), as VALIDATION_FAILED', async () => {
    const outOfRange = Object.assign(new Error('value out of range: overflow'), { code: '22003' });
    const { store, batches } = slowStore(1, (rows) => rows.some((r) => (r as { data: { bad?: boolean } }).data.bad), outOfRange);
    const writer = new AgentDataWriter(store, 100, 5);

    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, k) => writer.write(`a${k}`, 't', 1, { bad: k === 5 })));

    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[5] as PromiseRejectedResult).reason).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(batches[0]).toBe(8);
    expect(batches.length).toBeLessThanOrEqual(1 + 2 * Math.ceil(Math.log2(8)));
  });
});
