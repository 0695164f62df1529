import type { ServerView } from '@encedeus/contracts';
import { enrolledNode, NODE_ECHO_TEMPLATE, serverProbes, startFleet, type AgentProcess, type FleetHarness } from './fleet-harness';

/** What a node misses while it looks offline is caught up when it is back. */
describe('a node that comes back online', () => {
  let h: FleetHarness;
  let nodeId: string;
  let agent: AgentProcess;

  beforeAll(async () => {
    h = await startFleet();
    ({ nodeId, agent } = await enrolledNode(h, 'flapping'));
  }, 60_000);
  afterAll(async () => {
    agent?.child.kill('SIGCONT');
    await h?.stop();
  });

  it('installs the servers whose install could not reach it while it was away', async () => {
    const { waitState } = serverProbes(h);
    // A frozen agent stops heartbeating (1 s): after 3 missed the node is offline. The server is
    // created in the moment before that, so its install cannot reach the agent.
    agent.child.kill('SIGSTOP');
    const created = await h.send<ServerView>('create_server', { name: 'while-away', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId });
    expect(created.state).toBe('installing');
    await h.waitFor('node offline', async () => (await h.send('get_node', { id: nodeId })).state === 'offline', 15_000);

    // Once it looks offline, new servers are refused (409) rather than left "installing" (issue 14).
    await expect(h.send('create_server', { name: 'refused', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId })).rejects.toMatchObject({ code: 'CONFLICT' });

    agent.child.kill('SIGCONT');
    await h.waitFor('node online', async () => (await h.send('get_node', { id: nodeId })).state === 'online', 15_000);

    await waitState(created.id, 'offline', 30_000);
  }, 90_000);

  it('installs every server of a burst created back to back', async () => {
    const { waitState } = serverProbes(h);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await h.send<ServerView>('create_server', { name: `burst-${i}`, template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, limits: { memory_mb: 64, cpu_percent: 10 } })).id);

    for (const id of ids) await waitState(id, 'offline', 30_000);
  }, 120_000);
});
