import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestMicroservice } from '@nestjs/common';
import { startServiceApp } from '@encedeus/messaging';
import type { ServerView, TemplateView } from '@encedeus/contracts';
import { NodesModule } from '../src/nodes.module';
import { enrolledNode, serverProbes, startFleet, type AgentProcess, type FleetHarness } from './fleet-harness';

const BACKOFF_MS = 6000;

/**
 * The restart policy's back-off is a schedule recorded in `server.crashed {due_at}`, not a timer in
 * memory: a nodes service that restarts while a crash restart is pending still restarts the server
 * when it is due (FleetTimers, on the `nodes.fleet-timers` lease holder).
 */
describe('a crash restart pending while the nodes service restarts', () => {
  let h: FleetHarness;
  let second: INestMicroservice | undefined;
  let nodeId: string;
  let agent: AgentProcess;

  beforeAll(async () => {
    h = await startFleet();
    ({ nodeId, agent } = await enrolledNode(h, 'restarts'));
  }, 60_000);
  afterAll(async () => {
    await second?.close().catch(() => undefined);
    await h?.stop();
  });

  const events = (id: string) => h.events('server', id);

  it('restarts the crashed server at due_at from the service that took over', async () => {
    const template = await h.send<TemplateView>('create_template', {
      name: `crashy-${Date.now()}`,
      driver: 'process',
      startup: 'exec sleep 600',
      limits: { memory_mb: 64, cpu_percent: 10, disk_mb: 64 },
      restart: { on_crash: true, max_attempts: 3, backoff_ms: BACKOFF_MS },
    });
    const { id } = await h.send<ServerView>('create_server', { name: 'crashy', template_id: template.id, node_id: nodeId });
    const { waitState } = serverProbes(h);
    await waitState(id, 'offline', 30_000);
    await h.send('power', { id, action: 'start' });
    await waitState(id, 'running', 30_000);

    const { pid } = JSON.parse(readFileSync(join(agent.dataDir, 'process-state', id, 'run.json'), 'utf8'));
    process.kill(-pid, 'SIGKILL');
    const crash = await h.waitFor('server.crashed', async () => (await events(id)).find((r) => r.event.type === 'server.crashed'), 15_000);
    expect(crash.event.data).toMatchObject({ will_restart: true, attempt: 1, restart_in_ms: BACKOFF_MS });

    // The service goes away before the restart is due, and another instance comes up.
    await h.app.close();
    const creds = await h.env.nats.creds('nodes');
    second = await startServiceApp(
      'nodes',
      NodesModule.forRoot({ nats: { servers: h.env.nats.url, creds }, databaseUrl: h.env.db.url, signer: h.env.nats.signer, publicNatsUrl: h.env.nats.url, liveness: { sweepMs: 100 } }),
      { servers: h.env.nats.url, creds, logger: process.env.DEBUG_NODES ? undefined : ['error'] },
    );
    const dueAt = Date.parse(crash.event.time) + BACKOFF_MS;
    expect(Date.now()).toBeLessThan(dueAt);

    const restarted = await h.waitFor(
      'server.restarted by policy',
      async () => (await events(id)).find((r) => r.event.type === 'server.restarted' && (r.event.data as { by: string }).by === 'policy'),
      BACKOFF_MS + 15_000,
    );
    await waitState(id, 'running', 15_000);

    expect(Date.parse(restarted.event.time)).toBeGreaterThanOrEqual(dueAt - 50);
    expect(restarted.event.actor).toBe('service:nodes');
    expect((await events(id)).filter((r) => r.event.type === 'server.restarted')).toHaveLength(1);
  }, 90_000);
});
