import { cpus } from 'node:os';
import { connect, credsAuthenticator, JSONCodec, type NatsConnection } from 'nats';
import { Subjects, type EnrollReply } from '@encedeus/contracts';
import { CommandClient, inboxPrefixFromCreds, mintUserCreds, SERVICE_PERMISSIONS } from '@encedeus/messaging';
import { benchFleet } from './fleet-bench-env';
import { conditions, record } from './lib/harness';

const json = JSONCodec<unknown>();

interface LightAgent {
  nodeId: string;
  nc: NatsConnection;
  timer?: NodeJS.Timeout;
  lastBeatAt?: number;
}

/**
 * Simulated fleet: N light agents in this process, each enrolled for real (own bootstrap user, own
 * minted NATS user, own connection), heartbeating every `intervalMs`. Then 10 % of them stop; we
 * measure when the nodes service declares them offline, and the heartbeat processing lag it saw.
 */
export async function run(options: { sizes?: number[]; intervalMs?: number } = {}): Promise<void> {
  const sizes = options.sizes ?? (process.env.BENCH_FLEET_SIZES ?? '1000,2000,3000,4000').split(',').map(Number);
  const intervalMs = options.intervalMs ?? 5000;
  const results: unknown[] = [];
  for (const n of sizes) {
    const h = await benchFleet();
    const agents: LightAgent[] = [];
    try {
      const t0 = Date.now();
      const created = [];
      for (let i = 0; i < n; i += 50) {
        created.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => h.createNode(`sim-${i + j}`, 1024)))));
      }
      for (let i = 0; i < created.length; i += 50) {
        await Promise.all(
          created.slice(i, i + 50).map(async (node) => {
            const token = node.enrollment.token;
            // One bootstrap user per agent, as each would hold on its own machine (only `cmd.nodes.enroll`).
            const bootCreds = await mintUserCreds(h.env.nats.signer, `agent-bootstrap-${node.id}`, SERVICE_PERMISSIONS['agent-bootstrap'], { expiresInSeconds: 3600 });
            const boot = await connect({ servers: h.env.nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(bootCreds)), inboxPrefix: inboxPrefixFromCreds(bootCreds) });
            const reply = await new CommandClient(boot, 30_000).request<EnrollReply>(Subjects.enroll, { token }, { actor: 'system' }, {}, 'nodes');
            await boot.close();
            const nc = await connect({ servers: h.env.nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(reply.creds)), inboxPrefix: inboxPrefixFromCreds(reply.creds) });
            const agent: LightAgent = { nodeId: reply.node_id, nc };
            let seq = 0;
            const beat = () => {
              agent.lastBeatAt = Date.now();
              nc.publish(Subjects.agentHeartbeat(agent.nodeId), json.encode({ at: agent.lastBeatAt, seq: ++seq, interval_ms: intervalMs, version: 'sim' }));
            };
            beat();
            // Spread beats over the interval like a real fleet.
            setTimeout(() => (agent.timer = setInterval(beat, intervalMs)), Math.random() * intervalMs);
            agents.push(agent);
          }),
        );
      }
      const enrollSeconds = (Date.now() - t0) / 1000;
      await h.waitFor('all online', async () => (await h.send('liveness_stats', {})).online >= n, 120_000);
      await new Promise((r) => setTimeout(r, intervalMs * 2));
      const steady = await h.send('liveness_stats', {});

      // When the nodes service declared each victim offline: the time of its node.went_offline event.
      const offlineAt = new Map<string, number>();
      const events = h.admin.subscribe('evt.node.*', {
        callback: (_error, m) => {
          const e = json.decode(m.data) as { type: string; time: string };
          if (e.type === 'node.went_offline') offlineAt.set(m.subject.split('.')[2], Date.parse(e.time));
        },
      });
      await h.admin.flush();
      const victims = agents.slice(0, Math.max(1, Math.floor(n / 10)));
      const stoppedAt = Date.now();
      for (const v of victims) clearInterval(v.timer);
      await h.waitFor('victims offline', async () => victims.every((v) => offlineAt.has(v.nodeId)), 60_000);
      events.unsubscribe();
      const detectionS = Math.max(...victims.map((v) => offlineAt.get(v.nodeId)! - stoppedAt)) / 1000;
      const sinceLastBeatS = Math.max(...victims.map((v) => offlineAt.get(v.nodeId)! - v.lastBeatAt!)) / 1000;
      const stillOnline = (await h.send('liveness_stats', {})).online;
      const r = {
        agents: n,
        enroll_s: +enrollSeconds.toFixed(1),
        heartbeat_lag_p50_ms: steady.lagP50Ms,
        heartbeat_lag_p99_ms: steady.lagP99Ms,
        heartbeat_lag_max_ms: steady.lagMaxMs,
        stopped: victims.length,
        offline_detection_s: +detectionS.toFixed(2),
        offline_after_last_beat_s: +sinceLastBeatS.toFixed(2),
        others_still_online: stillOnline === n - victims.length,
        ok: detectionS <= 15 && steady.lagMaxMs < 1000 && stillOnline === n - victims.length,
      };
      results.push(r);
      console.log(JSON.stringify(r));
    } finally {
      for (const a of agents) {
        clearInterval(a.timer);
        await a.nc.close().catch(() => undefined);
      }
      await h.stop();
    }
  }
  const ok = (results as { agents: number; ok: boolean }[]).filter((r) => r.ok);
  const best = ok.reduce((m, r) => Math.max(m, r.agents), 0);
  conditions('fleet', {
    setup: `per size: a fresh nodes service, NATS and database; N light agents in the bench process, each created (cmd.nodes.create_node), enrolled with its bootstrap creds (cmd.nodes.enroll) and connected with its own minted user; heartbeat every ${intervalMs} ms, offline after 3 missed; then 10 % stop beating; offline time = each victim's node.went_offline event time`,
    ...Object.fromEntries(
      (results as Record<string, number | boolean>[]).map((r) => [
        `N = ${r.agents}`,
        `enrolled in ${r.enroll_s} s; heartbeat lag p50 ${r.heartbeat_lag_p50_ms} / p99 ${r.heartbeat_lag_p99_ms} / max ${r.heartbeat_lag_max_ms} ms; ${r.stopped} stopped: all offline ${r.offline_detection_s} s after they stopped, at most ${r.offline_after_last_beat_s} s after their last beat; the others ${r.others_still_online ? 'stayed online' : 'did NOT all stay online'} → ${r.ok ? 'ok' : 'over a limit'}`,
      ]),
    ),
  });
  record({ bench: 'fleet', name: 'largest simulated fleet with offline ≤ 15 s and heartbeat lag < 1 s', value: best, unit: 'agents', target: { op: '>=', value: 2000 }, note: `sizes tried: ${sizes.join(', ')}; cpus ${cpus().length}` });
  for (const r of results as { agents: number; enroll_s: number }[]) {
    record({ bench: 'fleet', name: `enrollment of ${r.agents} agents`, value: r.agents / r.enroll_s, unit: 'agents/s' });
  }
}

if (require.main === module) void run().then(() => process.exit(0));
