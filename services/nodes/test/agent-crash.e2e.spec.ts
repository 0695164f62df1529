import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, credsAuthenticator, Events, type NatsConnection } from 'nats';
import type { ServerView } from '@encedeus/contracts';
import { NODE_ECHO_TEMPLATE, startFleet, type AgentProcess, type FleetHarness } from './fleet-harness';

describe('agent crash, restart and NATS permissions', () => {
  let h: FleetHarness;
  let nodeA: string;
  let nodeB: string;
  let agentA: AgentProcess;

  beforeAll(async () => {
    h = await startFleet();
    const a = await h.createNode('node-a');
    const b = await h.createNode('node-b');
    nodeA = a.id;
    nodeB = b.id;
    agentA = h.startAgent({ token: a.enrollment.token });
    h.startAgent({ token: b.enrollment.token });
    await h.waitFor('both online', async () => {
      const page = await h.send('list_nodes', {});
      return page.items.filter((n: any) => n.state === 'online' && n.spec).length === 2;
    }, 40_000);
  }, 60_000);
  afterAll(() => h?.stop());

  const server = (id: string) => h.send<ServerView>('get_server', { id });
  const waitState = (id: string, state: string, ms = 15_000) =>
    h.waitFor(`server ${state}`, async () => ((await server(id)).state === state ? true : undefined), ms).catch(async (e) => {
      throw new Error(`${e.message}; server is ${JSON.stringify(await server(id))}`);
    });

  it("lets agent A touch only its own subjects, enforced by the NATS server", async () => {
    const identity = JSON.parse(readFileSync(join(agentA.dataDir, 'identity.json'), 'utf8'));
    expect(identity.node_id).toBe(nodeA);
    const nc: NatsConnection = await connect({ servers: h.env.nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(identity.creds)) });
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === Events.Error) errors.push(String(s.data));
    })();
    const subErrors: string[] = [];
    for (const subject of [`agent.${nodeB}.>`, 'evt.>']) {
      nc.subscribe(subject, { callback: (err) => err && subErrors.push(`${subject}: ${err.code ?? err.message}`) });
    }
    nc.publish(`agent.${nodeB}.cmd.x`, new Uint8Array());
    await nc.flush().catch(() => undefined);
    await h.waitFor('three permission violations', async () => subErrors.length === 2 && errors.filter((e) => /permission/i.test(e)).length >= 3, 5000);
    expect(subErrors.join('\n')).toMatch(/PERMISSIONS_VIOLATION|permission/i);
    // Its own subjects work.
    const own = nc.subscribe(`agent.${nodeA}.probe`, { max: 1 });
    nc.publish(`agent.${nodeA}.probe`, new Uint8Array([1]));
    for await (const m of own) expect(m.data[0]).toBe(1);
    await nc.close();
  });

  it('detects a SIGKILLed agent within 15 s and re-attaches to its server after a restart', async () => {
    const created = await h.send<ServerView>('create_server', { name: 'survivor', template_id: NODE_ECHO_TEMPLATE, node_id: nodeA });
    await waitState(created.id, 'offline');
    await h.send('power', { id: created.id, action: 'start' });
    await waitState(created.id, 'running');

    const killedAt = Date.now();
    agentA.child.kill('SIGKILL');
    await agentA.exited;
    await h.waitFor('node offline', async () => (await h.send('get_node', { id: nodeA })).state === 'offline', 15_000);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(15_000);
    const offlineEvents: string[] = [];
    for await (const r of h.store.readStream(`evt.node.${nodeA}`)) offlineEvents.push(r.event.type);
    expect(offlineEvents).toContain('node.went_offline');

    const again = h.startAgent({ dataDir: agentA.dataDir });
    await h.waitFor('node online again', async () => (await h.send('get_node', { id: nodeA })).state === 'online', 30_000);
    await h.waitFor('server still running after re-attach', async () => {
      const s = await server(created.id);
      return s.state === 'running' ? s : undefined;
    });
    const lines: string[] = [];
    const sub = h.admin.subscribe(`console.${created.id}.out`, { callback: (_e, m) => lines.push(JSON.parse(new TextDecoder().decode(m.data)).line) });
    // The restarted agent learns its servers from the sync that follows its boot report.
    await h.waitFor('agent synced', () => h.send('server_command', { id: created.id, command: 'still there?' }).catch(() => undefined));
    await h.waitFor('echo after re-attach', async () => lines.includes('echo: still there?'));
    sub.unsubscribe();

    // The server dies while its agent is away: the restarted agent reports the exit.
    again.child.kill('SIGKILL');
    await again.exited;
    const { pid } = JSON.parse(readFileSync(join(agentA.dataDir, 'process-state', created.id, 'run.json'), 'utf8'));
    process.kill(-pid, 'SIGKILL');
    h.startAgent({ dataDir: agentA.dataDir });
    await h.waitFor('server crashed reported', async () => ((await server(created.id)).state === 'crashed' ? true : undefined), 30_000);
  }, 60_000);
});
