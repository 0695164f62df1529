import { JSONCodec } from 'nats';
import type { ConsoleLine, ServerView, TemplateView } from '@encedeus/contracts';
import { containerName } from '../../agent/src/drivers/docker/docker-driver';
import { ensureDockerEngine } from '../../agent/test/fixtures/docker-engine';
import { serverProbes, startFleet, type AgentProcess, type FleetHarness } from './fleet-harness';

const engine = ensureDockerEngine();
const describeWithEngine = engine ? describe : describe.skip;
if (!engine) console.warn('docker servers through the nodes service skipped: no Docker engine can run on this machine');
const codec = JSONCodec<ConsoleLine>();

/** A server of a docker template, end to end through the nodes service and a real agent on a real engine. */
describeWithEngine('docker servers through the nodes service', () => {
  let h: FleetHarness;
  let agent: AgentProcess;
  let nodeId: string;
  const createdIds: string[] = [];

  beforeAll(async () => {
    h = await startFleet();
    const node = await h.createNode('docker-node');
    nodeId = node.id;
    agent = h.startAgent({ token: node.enrollment.token, drivers: 'process,docker', agentEnv: { DOCKER_HOST: engine!.host, AGENT_DOCKER_NETWORK: engine!.network } });
    await h.waitFor('node online with the docker driver', async () => (await h.send('get_node', { id: nodeId })).spec?.drivers?.includes('docker'), 30_000).catch((e) => {
      throw new Error(`${e.message}\nagent output:\n${agent.output()}`);
    });
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
    // Containers outlive their agent by design; a test must not leave any behind.
    const left = await engine!.docker.listContainers({ all: true, filters: { label: [`encedeus.server`] } });
    await Promise.all(left.filter((c) => createdIds.includes(c.Labels['encedeus.server'])).map((c) => engine!.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  });

  it('installs, starts, streams the console, takes commands, stops and deletes a container', async () => {
    const { waitState } = serverProbes(h);
    const template = await h.send<TemplateView>('create_template', {
      name: 'busybox echo',
      driver: 'docker',
      image: engine!.image,
      startup: 'echo ready {{GREETING}}; while read line; do [ "$line" = quit ] && exit 0; echo "got $line"; done',
      variables: [{ name: 'GREETING', default: 'hi', rules: 'required|string|max:20' }],
      stop: { command: 'quit', timeout_s: 5 },
      ready_pattern: 'ready',
      limits: { memory_mb: 64, cpu_percent: 50, disk_mb: 100 },
    });
    const { id } = await h.send<ServerView>('create_server', { name: 'boxed', template_id: template.id, node_id: nodeId, variables: { GREETING: 'docker' } });
    createdIds.push(id);
    await waitState(id, 'offline');
    const lines: string[] = [];
    const sub = h.admin.subscribe(`console.${id}.out`, { callback: (_e, m) => lines.push(codec.decode(m.data).line) });

    await h.send('power', { id, action: 'start' });
    await waitState(id, 'running');
    await h.waitFor('ready line', async () => lines.includes('ready docker')).catch((e) => {
      throw new Error(`${e.message}\nconsole lines: ${JSON.stringify(lines)}`);
    });
    const container = await engine!.docker.getContainer(containerName(id)).inspect();
    expect(container.State.Running).toBe(true);
    expect(container.HostConfig.Memory).toBe(64 * 1024 * 1024);

    await h.send('server_command', { id, command: 'hello box' });
    await h.waitFor('echo', async () => lines.includes('got hello box'));

    const stopped = await h.send<ServerView>('power', { id, action: 'stop' });
    expect(stopped.state).toBe('offline');
    // The driver removes a stopped container (the next start creates it from the current spec).
    const after = await engine!.docker.getContainer(containerName(id)).inspect().catch(() => undefined);
    expect(after?.State.Running ?? false).toBe(false);

    await h.send('delete_server', { id });
    await h.waitFor('container removed', async () => engine!.docker.getContainer(containerName(id)).inspect().then(() => false, () => true));
    sub.unsubscribe();
  }, 120_000);
});
