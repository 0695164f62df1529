import type { INestMicroservice } from '@nestjs/common';
import { JSONCodec } from 'nats';
import { Subjects, type Heartbeat } from '@encedeus/contracts';
import { startServiceApp } from '@encedeus/messaging';
import { NodesModule } from '../src/nodes.module';
import { NODE_ECHO_TEMPLATE, startFleet, type FleetHarness } from './fleet-harness';

/** A node's capacity holds with two nodes-service replicas: creates sent at once to both never over-commit it. */
describe('node capacity with two nodes-service replicas', () => {
  let h: FleetHarness;
  let second: INestMicroservice;
  let heartbeats: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    h = await startFleet();
    const creds = await h.env.nats.creds('nodes');
    second = await startServiceApp(
      'nodes',
      NodesModule.forRoot({ nats: { servers: h.env.nats.url, creds }, databaseUrl: h.env.db.url, signer: h.env.nats.signer, publicNatsUrl: h.env.nats.url }),
      { servers: h.env.nats.url, creds, logger: process.env.DEBUG_NODES ? undefined : ['error'] },
    );
  }, 60_000);
  afterAll(async () => {
    clearInterval(heartbeats);
    await second?.close().catch(() => undefined);
    await h?.stop();
  });

  it('places exactly as many 256 MB servers on a 1024 MB node as fit when 12 creates race through both replicas', async () => {
    const node = await h.createNode('capacity-race', 1024);
    // Servers go only to online nodes: heartbeats in the agent's name make it one (no agent installs them here).
    const codec = JSONCodec<unknown>();
    let seq = 0;
    const beat = () => h.admin.publish(Subjects.agentHeartbeat(node.id), codec.encode({ at: Date.now(), seq: ++seq, interval_ms: 1000, version: 'test' } satisfies Heartbeat));
    beat();
    heartbeats = setInterval(beat, 1000);
    await h.waitFor('node online', async () => (await h.send('get_node', { id: node.id })).state === 'online', 15_000);

    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => h.send('create_server', { name: `race-${i}`, template_id: NODE_ECHO_TEMPLATE, node_id: node.id, limits: { memory_mb: 256 } })),
    );

    const created = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(created).toHaveLength(4);
    expect(refused.map((r) => (r.reason as { code?: string }).code)).toEqual(Array(8).fill('INSUFFICIENT_CAPACITY'));
    const listed = await h.send<{ items: { node_id: string }[] }>('list_servers', { node_id: node.id, per_page: 100 });
    expect(listed.items.filter((s) => s.node_id === node.id)).toHaveLength(4);
  }, 60_000);

  it('creates one node for a create_node sent again with one Idempotency-Key (a retry after a 503 whose first attempt committed); the retry gets a fresh enrollment token', async () => {
    const meta = { actor: h.actor, idempotencyKey: `node-${Date.now()}` };
    const send = () => h.client.send<{ id: string; enrollment: { token: string } }>('nodes', 'create_node', { name: 'retried-node', memory_mb: 1024, cpu_percent: 100, storage_size: '5G' }, meta, { timeoutMs: 30_000 });

    const first = await send();
    const again = await send();
    const created: string[] = [];
    for await (const r of h.store.readStream(`evt.node.${first.id}`)) if (r.event.type === 'node.created') created.push(r.event.type);

    expect(again.id).toBe(first.id);
    expect(created).toHaveLength(1);
    expect(again.enrollment.token).not.toBe(first.enrollment.token);
  }, 60_000);
});
