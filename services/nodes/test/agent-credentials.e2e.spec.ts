import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { JSONCodec } from 'nats';
import { Subjects, type Heartbeat } from '@encedeus/contracts';
import { enrolledNode, startFleet, type FleetHarness } from './fleet-harness';

const TTL_S = 12;

/** Agents' NATS credentials expire; online agents are renewed in time; a deleted node's agent forgets them. */
describe('agent credentials', () => {
  let h: FleetHarness;

  beforeAll(async () => {
    h = await startFleet({ agentCredsTtlS: TTL_S });
  }, 60_000);
  afterAll(() => h?.stop());

  it('renews an online agent before its credentials expire, so it stays connected past the first expiry', async () => {
    const expiries: number[] = [];
    const beats = h.admin.subscribe(Subjects.agentHeartbeats, {
      callback: (_e, m) => {
        const hb = JSONCodec<Heartbeat>().decode(m.data);
        if (hb.creds_expires_at) expiries.push(hb.creds_expires_at);
      },
    });
    const { nodeId, agent } = await enrolledNode(h, 'renewed');
    await h.waitFor('a first heartbeat with an expiry', async () => expiries.length > 0, 10_000);
    const first = Math.min(...expiries);
    expect(first - Date.now()).toBeLessThanOrEqual(TTL_S * 1000);

    // Well past the first credentials' expiry: the server would have dropped a connection on them.
    await new Promise((r) => setTimeout(r, first - Date.now() + 3000));
    beats.unsubscribe();

    expect(Math.max(...expiries)).toBeGreaterThan(first);
    const pong = await h.admin.request(Subjects.agentCommand(nodeId, 'ping'), JSONCodec().encode({}), { timeout: 5000 });
    expect(JSONCodec<{ ok: boolean; data: { node_id: string } }>().decode(pong.data)).toMatchObject({ ok: true, data: { node_id: nodeId } });
    expect((await h.send('get_node', { id: nodeId })).state).toBe('online');
    expect(agent.output()).not.toMatch(/authorization|authentication expired/i);
  }, 60_000);

  it('tells the agent of a deleted node to forget its credentials, and the agent stops', async () => {
    const { nodeId, agent } = await enrolledNode(h, 'deleted');
    expect(existsSync(join(agent.dataDir, 'identity.json'))).toBe(true);

    await h.send('delete_node', { id: nodeId });

    expect(await agent.exited).toBe(0);
    expect(existsSync(join(agent.dataDir, 'identity.json'))).toBe(false);
    expect(agent.output()).toContain('was deleted');
  }, 60_000);
});
