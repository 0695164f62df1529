import type { MetricsStore } from '../storage/metrics-store';
import type { ActivityMonitor } from './activity-monitor';
import { AgentDataWriter } from './agent-data-writer';
import { AgentsHandlers } from './agents.handlers';

const outOfRange = Object.assign(new Error('value out of range: overflow'), { code: '22003' });

/** A store that refuses (as Postgres does, with a SQLSTATE) any statement holding a document with `bad`. */
function refusingStore(): { store: MetricsStore; stored: unknown[] } {
  const stored: unknown[] = [];
  const store = {
    async writeAgentData(rows: { data: { bad?: boolean } }[]) {
      if (rows.some((r) => r.data.bad)) throw outOfRange;
      stored.push(...rows);
    },
  } as unknown as MetricsStore;
  return { store, stored };
}

/** A monitor that records each sawTypes call and, when told, fails it. */
function monitor(fail = false): { monitor: ActivityMonitor; calls: [string, string[]][] } {
  const calls: [string, string[]][] = [];
  const fake = {
    async sawTypes(agentId: string, types: string[]) {
      calls.push([agentId, [...types].sort()]);
      if (fail) throw new Error('conflict after 20 attempts');
    },
  } as unknown as ActivityMonitor;
  return { monitor: fake, calls };
}

const doc = (id: string, type: string, data: Record<string, unknown> = {}) => ({ id, type, t: 1, data });

describe('AgentsHandlers.dataBatch', () => {
  it('stores every document but the refused one and names that one by its index', async () => {
    const { store, stored } = refusingStore();
    const handlers = new AgentsHandlers(monitor().monitor, new AgentDataWriter(store), store);

    const reply = await handlers.dataBatch({ items: [doc('a', 't'), doc('b', 't', { bad: true }), doc('c', 't')] });

    expect(reply).toEqual({ result: 'success', stored: 2, refused: [{ index: 1, code: 'VALIDATION_FAILED', error: expect.any(String), details: expect.anything() }] });
    expect(stored).toHaveLength(2);
  });

  it("notes each agent's types with one call per agent", async () => {
    const { store } = refusingStore();
    const { monitor: m, calls } = monitor();
    const handlers = new AgentsHandlers(m, new AgentDataWriter(store), store);

    await handlers.dataBatch({ items: [doc('a', 'x'), doc('a', 'y'), doc('b', 'x'), doc('a', 'x'), doc('a', 'z')] });

    expect(calls.sort()).toEqual([
      ['a', ['x', 'y', 'z']],
      ['b', ['x']],
    ]);
  });

  it('answers success when noting the types fails: the documents are stored', async () => {
    const { store, stored } = refusingStore();
    const handlers = new AgentsHandlers(monitor(true).monitor, new AgentDataWriter(store), store);

    const batch = await handlers.dataBatch({ items: [doc('a', 'x'), doc('a', 'y')] });
    const single = await handlers.data({ id: 'a', type: 'w', data: {} });

    expect([batch, single]).toEqual([{ result: 'success', stored: 2, refused: [] }, { result: 'success' }]);
    expect(stored).toHaveLength(3);
  });
});
