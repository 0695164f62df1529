import type { ServerView } from '@encedeus/contracts';
import { enrolledNode, NODE_ECHO_TEMPLATE, serverProbes, startFleet, type AgentProcess, type FleetHarness } from './fleet-harness';


describe('power actions', () => {
  let h: FleetHarness;
  let nodeId: string;
  let agent: AgentProcess;

  beforeAll(async () => {
    h = await startFleet();
    const enrolled = await enrolledNode(h);
    ({ nodeId, agent } = enrolled);
    expect(enrolled.token).toMatch(/^enc_[0-9a-f]{8}_[A-Za-z0-9_-]{32}$/);
    expect(enrolled.command).toContain('--token');
  }, 60_000);
  afterAll(() => h?.stop());

  const waitState = (id: string, state: string, ms?: number) => serverProbes(h).waitState(id, state, ms);

  it('serializes 50 concurrent power actions; the final state matches the last one', async () => {
    const { id } = await h.send<ServerView>('create_server', { name: 'busy', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId });
    await waitState(id, 'offline');
    const actions = Array.from({ length: 50 }, (_, i) => (['start', 'stop', 'restart', 'kill'] as const)[(i * 7 + 3) % 4]);
    const results = await Promise.allSettled(actions.map((action) => h.send<ServerView & { action: string }>('power', { id, action }, 120_000)));
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<ServerView & { action: string }>).value);
    const failed = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(failed).toEqual([]);
    const last = ok.reduce((a, b) => (b.version > a.version ? b : a));
    const expected = last.action === 'start' || last.action === 'restart' ? 'running' : 'offline';
    await waitState(id, expected);
    expect(agent.child.exitCode).toBeNull();
    await h.send('delete_server', { id });
  }, 120_000);

});
