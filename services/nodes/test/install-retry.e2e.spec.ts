import type { INestMicroservice } from '@nestjs/common';
import { JSONCodec } from 'nats';
import { startServiceApp } from '@encedeus/messaging';
import { Subjects, type Heartbeat, type RecordedEvent, type ServerView } from '@encedeus/contracts';
import { NodesModule } from '../src/nodes.module';
import { NODE_ECHO_TEMPLATE, serverProbes, startFleet, type FleetHarness } from './fleet-harness';

const codec = JSONCodec<unknown>();

/**
 * An install whose agent cannot be reached is retried on a schedule recorded in
 * `server.install_attempt_failed {retry_at}`: a nodes service that restarts in between still retries
 * at retry_at. The "agent" here is the test: it heartbeats for the node (so the node is online) and
 * answers `create_server` only once the service has restarted.
 */
describe('an install retry pending while the nodes service restarts', () => {
  let h: FleetHarness;
  let second: INestMicroservice | undefined;
  let heartbeats: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    h = await startFleet();
  }, 60_000);
  afterAll(async () => {
    clearInterval(heartbeats);
    await second?.close().catch(() => undefined);
    await h?.stop();
  });

  const events = (id: string) => h.events('server', id);

  it('ends an install the agent refuses as install_failed with the agent\'s reason, at once (issue 14, bug 4)', async () => {
    const node = await h.createNode(`refusing-${Date.now()}`);
    const beat = () => h.admin.publish(Subjects.agentHeartbeat(node.id), codec.encode({ at: Date.now(), seq: Date.now(), interval_ms: 1000, version: 'test' } satisfies Heartbeat));
    beat();
    const beating = setInterval(beat, 1000);
    try {
      await h.waitFor('node online', async () => (await h.send('get_node', { id: node.id })).state === 'online', 10_000);
      const refusal = h.admin.subscribe(Subjects.agentCommand(node.id, 'create_server'), {
        callback: (_e, m) => m.respond(codec.encode({ ok: false, error: { code: 'DRIVER_UNAVAILABLE', error: 'Docker is not available on this node' } })),
      });
      await h.admin.flush();

      const { id } = await h.send<ServerView>('create_server', { name: 'refused', template_id: NODE_ECHO_TEMPLATE, node_id: node.id });
      const started = Date.now();
      await serverProbes(h).waitState(id, 'install_failed', 15_000);
      refusal.unsubscribe();

      expect(Date.now() - started).toBeLessThan(10_000);
      const all = await events(id);
      expect(all.filter((r) => r.event.type === 'server.install_attempt_failed')).toEqual([]);
      expect(all[all.length - 1].event).toMatchObject({ type: 'server.installed', data: { success: false, error: 'Docker is not available on this node' } });
    } finally {
      clearInterval(beating);
    }
  }, 60_000);

  it('installs at retry_at from the service that took over', async () => {
    const node = await h.createNode(`unreachable-${Date.now()}`);
    let seq = 0;
    const beat = () => h.admin.publish(Subjects.agentHeartbeat(node.id), codec.encode({ at: Date.now(), seq: ++seq, interval_ms: 1000, version: 'test' } satisfies Heartbeat));
    beat();
    heartbeats = setInterval(beat, 1000);
    await h.waitFor('node online', async () => (await h.send('get_node', { id: node.id })).state === 'online', 10_000);

    // Nobody answers agent.<node>.cmd.*: every attempt fails with "not connected" and schedules the next.
    const { id } = await h.send<ServerView>('create_server', { name: 'unreachable', template_id: NODE_ECHO_TEMPLATE, node_id: node.id });
    const failed = (all: RecordedEvent[]) => all.filter((r) => r.event.type === 'server.install_attempt_failed');
    const third = await h.waitFor('three failed attempts', async () => failed(await events(id))[2], 30_000);
    const retryAt = Date.parse((third.event.data as { retry_at: string }).retry_at);
    expect(third.event.data).toMatchObject({ attempt: 3, error: expect.stringContaining('not connected') });

    await h.app.close();
    const creds = await h.env.nats.creds('nodes');
    second = await startServiceApp(
      'nodes',
      NodesModule.forRoot({ nats: { servers: h.env.nats.url, creds }, databaseUrl: h.env.db.url, signer: h.env.nats.signer, publicNatsUrl: h.env.nats.url, liveness: { sweepMs: 100 } }),
      { servers: h.env.nats.url, creds, logger: process.env.DEBUG_NODES ? undefined : ['error'] },
    );
    expect(Date.now()).toBeLessThan(retryAt);
    const asked: number[] = [];
    h.admin.subscribe(Subjects.agentCommand(node.id, 'create_server'), {
      callback: (_e, m) => {
        asked.push(Date.now());
        m.respond(codec.encode({ ok: true, data: { installed: true } }));
      },
    });
    await h.admin.flush();

    await serverProbes(h).waitState(id, 'offline', 20_000);

    const all = await events(id);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toBeGreaterThanOrEqual(retryAt - 50);
    expect(failed(all)).toHaveLength(3);
    expect(all[all.length - 1].event).toMatchObject({ type: 'server.installed', data: { success: true }, actor: `agent:${node.id}` });
  }, 90_000);
});
