import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { JSONCodec } from 'nats';
import type { ServerView } from '@encedeus/contracts';
import { enrolledNode, NODE_ECHO_TEMPLATE, serverProbes, startFleet, type AgentProcess, type FleetHarness } from './fleet-harness';

const codec = JSONCodec<any>();

describe('nodes service with a real agent', () => {
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

  const server = (id: string) => serverProbes(h).server(id);
  const waitState = (id: string, state: string, ms?: number) => serverProbes(h).waitState(id, state, ms);

  it('reports spec, heartbeats and usage of the node', async () => {
    const node = await h.send('get_node', { id: nodeId });
    expect(node.spec.cpu.cores).toBeGreaterThan(0);
    expect(node.spec.drivers).toContain('process');
    // Usage history is the metrics service's (issue 12); here the agent's samples on tel.<id>.usage are checked.
    const samples: { node_id: string; memory_total: number }[] = [];
    const sub = h.admin.subscribe(`tel.${nodeId}.usage`, { callback: (_e, m) => samples.push(codec.decode(m.data)) });
    const sample = await h.waitFor('a usage sample', async () => samples[0]).finally(() => sub.unsubscribe());
    expect(sample).toMatchObject({ node_id: nodeId });
    expect(sample.memory_total).toBeGreaterThan(0);
  });

  it('runs a server from a built-in template through its whole life', async () => {
    const created = await h.send<ServerView>('create_server', { name: 'echo', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, variables: { GREETING: 'hi' }, limits: { memory_mb: 256 } });
    const id = created.id;
    await waitState(id, 'offline');
    const lines: string[] = [];
    const sub = h.admin.subscribe(`console.${id}.out`, { callback: (_e, m) => lines.push(codec.decode(m.data).line) });

    await h.send('power', { id, action: 'start' });
    await waitState(id, 'running');
    await h.waitFor('ready line', async () => lines.some((l) => l.includes('Server ready: hi')));

    await h.send('server_command', { id, command: 'hello there' });
    await h.waitFor('echo', async () => lines.some((l) => l === 'echo: hello there'));
    h.admin.publish(`console.${id}.in`, codec.encode({ line: 'via nats' }));
    await h.waitFor('echo via console.in', async () => lines.some((l) => l === 'echo: via nats'));

    const stopped = await h.send<ServerView>('power', { id, action: 'stop' });
    expect(stopped.state).toBe('offline');
    await h.send('power', { id, action: 'start' });
    await waitState(id, 'running');
    const restarted = await h.send<ServerView>('power', { id, action: 'restart' });
    expect(['starting', 'running']).toContain(restarted.state);
    await waitState(id, 'running');
    const usage = await h.waitFor('server usage', async () => (await server(id)).usage ?? undefined);
    expect(usage.memory_bytes).toBeGreaterThan(0);
    const killed = await h.send<ServerView>('power', { id, action: 'kill' });
    expect(killed.state).toBe('offline');

    const dir = join(agent.dataDir, 'volumes', id);
    expect(existsSync(dir)).toBe(true);
    await h.send('delete_server', { id });
    expect(existsSync(dir)).toBe(false);
    await expect(server(id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    sub.unsubscribe();

    const types: string[] = [];
    for await (const r of h.store.readStream(`evt.server.${id}`)) {
      types.push(r.event.type);
      if (!r.event.type.match(/installed|running|crashed/)) expect(r.event.actor).toBe(h.actor);
      else expect(r.event.actor).toMatch(/^(user|agent):/);
    }
    expect(types).toEqual(
      expect.arrayContaining(['server.created', 'server.install_started', 'server.installed', 'server.start_requested', 'server.starting', 'server.running', 'server.stop_requested', 'server.stopped', 'server.restarted', 'server.killed', 'server.deleted']),
    );
  });

  it('answers 422 naming a variable that breaks its rule, 409 with the numbers over capacity', async () => {
    await expect(
      h.send('create_server', { name: 'bad', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, variables: { GREETING: 'x'.repeat(100) } }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringContaining('GREETING') });
    const node = await h.send('get_node', { id: nodeId });
    const over = h.send('create_server', { name: 'big', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, limits: { memory_mb: 999_999 } });
    await expect(over).rejects.toMatchObject({
      code: 'INSUFFICIENT_CAPACITY',
      details: expect.objectContaining({ requested_memory_mb: 999_999, total_memory_mb: 4096, free_memory_mb: 4096 - node.allocated.memory_mb }),
    });
  });

  it('filters the server list by part of the name, any case (?q=, the console\'s "Filter by name")', async () => {
    const a = await h.send<ServerView>('create_server', { name: 'Alpha-Lobby', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, limits: { memory_mb: 32, cpu_percent: 5 } });
    const b = await h.send<ServerView>('create_server', { name: 'beta_50%', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, limits: { memory_mb: 32, cpu_percent: 5 } });
    const names = async (q: string) => (await h.send<{ items: ServerView[] }>('list_servers', { q, limit: 100 })).items.map((s) => s.name);
    expect(await names('lobby')).toEqual(['Alpha-Lobby']);
    // LIKE's wildcards are matched literally.
    expect(await names('_50%')).toEqual(['beta_50%']);
    expect(await names('%')).toEqual(['beta_50%']);
    expect(await names('nothing-like-it')).toEqual([]);
    for (const { id } of [a, b]) await h.send('delete_server', { id });
  });

  it('refuses deleting a node that still has servers', async () => {
    const { id } = await h.send<ServerView>('create_server', { name: 'keep', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId });
    await expect(h.send('delete_node', { id: nodeId })).rejects.toMatchObject({ code: 'CONFLICT' });
    await h.send('delete_server', { id });
  });
});
