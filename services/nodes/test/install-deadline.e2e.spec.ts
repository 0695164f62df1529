import { JSONCodec } from 'nats';
import { Subjects, type Heartbeat, type ServerView } from '@encedeus/contracts';
import { NODE_ECHO_TEMPLATE, serverProbes, startFleet, type FleetHarness } from './fleet-harness';

const codec = JSONCodec<unknown>();
const DEADLINE_S = 12;

/**
 * An install on a node that goes offline after the server was created waits for the node, but not
 * forever (issue 14, bug 4): NODES_INSTALL_DEADLINE_S after the creation it ends install_failed with
 * the reason. The "agent" is the test: it heartbeats for the node, and answers `create_server` only
 * when told to.
 */
describe('the install deadline', () => {
  let h: FleetHarness;
  const beating = new Set<NodeJS.Timeout>();

  beforeAll(async () => {
    h = await startFleet({ installDeadlineS: DEADLINE_S });
  }, 60_000);
  afterAll(async () => {
    for (const t of beating) clearInterval(t);
    await h?.stop();
  });

  /** A node that is online while its heartbeat runs. */
  async function onlineNode(name: string) {
    const node = await h.createNode(name);
    let seq = 0;
    let timer: NodeJS.Timeout | undefined;
    const beat = () => h.admin.publish(Subjects.agentHeartbeat(node.id), codec.encode({ at: Date.now(), seq: ++seq, interval_ms: 1000, version: 'test' } satisfies Heartbeat));
    const resume = () => {
      beat();
      timer = setInterval(beat, 1000);
      beating.add(timer);
    };
    const pause = () => {
      clearInterval(timer);
      beating.delete(timer!);
    };
    const state = async () => (await h.send('get_node', { id: node.id })).state as string;
    resume();
    await h.waitFor('node online', async () => (await state()) === 'online', 10_000);
    return { node, pause, resume, state };
  }

  it('ends the install of a node that stays offline as install_failed with the reason, at the deadline', async () => {
    const { node, pause, state } = await onlineNode(`gone-${Date.now()}`);
    // Nobody answers agent.<node>.cmd.*: the install cannot reach the agent, then the node goes offline.
    const { id } = await h.send<ServerView>('create_server', { name: 'orphan', template_id: NODE_ECHO_TEMPLATE, node_id: node.id });
    pause();
    await h.waitFor('node offline', async () => (await state()) === 'offline', 15_000);

    await serverProbes(h).waitState(id, 'install_failed', (DEADLINE_S + 10) * 1000);

    const all = await h.events('server', id);
    const created = all.find((r) => r.event.type === 'server.created')!;
    const installed = all[all.length - 1].event;
    expect(installed).toMatchObject({ type: 'server.installed', data: { success: false } });
    expect((installed.data as { error: string }).error).toBe(`Node ${node.name} was offline; the install did not start within ${DEADLINE_S} seconds of the server's creation (NODES_INSTALL_DEADLINE_S)`);
    expect(Date.parse(installed.time) - Date.parse(created.event.time)).toBeGreaterThanOrEqual(DEADLINE_S * 1000);
  }, 60_000);

  it('installs on a node that comes back before the deadline', async () => {
    const { node, pause, resume, state } = await onlineNode(`back-${Date.now()}`);
    const { id } = await h.send<ServerView>('create_server', { name: 'patient', template_id: NODE_ECHO_TEMPLATE, node_id: node.id });
    pause();
    await h.waitFor('node offline', async () => (await state()) === 'offline', 15_000);

    h.admin.subscribe(Subjects.agentCommand(node.id, 'create_server'), { callback: (_e, m) => m.respond(codec.encode({ ok: true, data: { installed: true } })) });
    await h.admin.flush();
    resume();
    await h.waitFor('node online', async () => (await state()) === 'online', 10_000);
    const created = (await h.events('server', id)).find((r) => r.event.type === 'server.created')!;
    expect(Date.now() - Date.parse(created.event.time)).toBeLessThan(DEADLINE_S * 1000);

    await serverProbes(h).waitState(id, 'offline', (DEADLINE_S + 10) * 1000);
    const all = await h.events('server', id);
    expect(all[all.length - 1].event).toMatchObject({ type: 'server.installed', data: { success: true } });
    expect(all.filter((r) => r.event.type === 'server.installed')).toHaveLength(1);
  }, 60_000);
});
