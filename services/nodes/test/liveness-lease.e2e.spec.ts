import type { INestMicroservice } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { NATS_CONNECTION, startServiceApp } from '@encedeus/messaging';
import { Liveness } from '../src/liveness/liveness';
import { FleetTimers } from '../src/process-managers/fleet-timers';
import { NodesModule } from '../src/nodes.module';
import { enrolledNode, startFleet, type AgentProcess, type FleetHarness } from './fleet-harness';

/** Two nodes-service replicas on one NATS and Postgres: the liveness sweep runs on the `fleet-liveness` lease holder only, the timers on the `fleet-timers` one. */
describe('liveness with two nodes-service replicas', () => {
  let h: FleetHarness;
  let second: INestMicroservice;
  let nodeId: string;
  let agent: AgentProcess;

  beforeAll(async () => {
    h = await startFleet();
    const creds = await h.env.nats.creds('nodes');
    second = await startServiceApp(
      'nodes',
      NodesModule.forRoot({
        nats: { servers: h.env.nats.url, creds },
        databaseUrl: h.env.db.url,
        signer: h.env.nats.signer,
        publicNatsUrl: h.env.nats.url,
        liveness: { sweepMs: 100 },
      }),
      { servers: h.env.nats.url, creds, logger: process.env.DEBUG_NODES ? undefined : ['error'] },
    );
    ({ nodeId, agent } = await enrolledNode(h, 'leased'));
  }, 60_000);
  afterAll(async () => {
    await second?.close().catch(() => undefined);
    await h?.stop();
  });

  const sweeping = (app: INestMicroservice) => app.get(Liveness).isSweeping();
  const runsTimers = (app: INestMicroservice) => app.get(FleetTimers).isRunning();

  it('sweeps and runs the timers on exactly one replica, and the other takes both over and declares a stopped agent offline within 10 s after the holder crashed', async () => {
    expect([sweeping(h.app), sweeping(second)]).toEqual([true, false]);
    expect([runsTimers(h.app), runsTimers(second)]).toEqual([true, false]);
    const wentOffline = async () => {
      let n = 0;
      for await (const r of h.store.readStream(`evt.node.${nodeId}`)) if (r.event.type === 'node.went_offline') n++;
      return n;
    };
    expect(await wentOffline()).toBe(0);

    // The holder dies without releasing its lease (its NATS connection goes first), and the agent stops with it.
    const crashedAt = Date.now();
    agent.child.kill('SIGKILL');
    await h.app.get<symbol, NatsConnection>(NATS_CONNECTION).close();
    await h.app.close().catch(() => undefined);
    await agent.exited;

    await h.waitFor('node offline', async () => (await h.send('get_node', { id: nodeId })).state === 'offline' && (await wentOffline()) === 1, 15_000);
    const offlineAfterMs = Date.now() - crashedAt;

    expect(offlineAfterMs).toBeLessThanOrEqual(10_000);
    expect(sweeping(second)).toBe(true);
    // The nodes.fleet-timers lease moves the same way: crash restarts and install retries run there now.
    await h.waitFor('timers taken over', async () => runsTimers(second), 10_000);
    expect(await wentOffline()).toBe(1);
  }, 60_000);
});
