import { cpus } from 'node:os';
import { connect, credsAuthenticator, JSONCodec, type NatsConnection } from 'nats';
import { parseEnrollmentToken, Subjects, type EnrollReply } from '@encedeus/contracts';
import { CommandClient, inboxPrefixFromCreds } from '@encedeus/messaging';
import { benchFleet } from './fleet-bench-env';

const json = JSONCodec<unknown>();

interface LightAgent {
  nodeId: string;
  nc: NatsConnection;
  timer?: NodeJS.Timeout;
}

/**
 * Simulated fleet: N light agents in this process, each enrolled for real (own bootstrap user, own
 * minted NATS user, own connection), heartbeating every `intervalMs`. Then 10 % of them stop; we
 * measure when the nodes service declares them offline, and the heartbeat processing lag it saw.
 */
export async function run(options: { sizes?: number[]; intervalMs?: number } = {}): Promise<void> {
  const sizes = options.sizes ?? [250, 1000, 2000];
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
            const bootCreds = parseEnrollmentToken(token)!.bootstrapCreds!;
            const boot = await connect({ servers: h.env.nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(bootCreds)), inboxPrefix: inboxPrefixFromCreds(bootCreds) });
            const reply = await new CommandClient(boot, 30_000).request<EnrollReply>(Subjects.enroll, { token }, { actor: 'system' }, {}, 'nodes');
            await boot.close();
            const nc = await connect({ servers: h.env.nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(reply.creds)), inboxPrefix: inboxPrefixFromCreds(reply.creds) });
            const agent: LightAgent = { nodeId: reply.node_id, nc };
            let seq = 0;
            const beat = () => nc.publish(Subjects.agentHeartbeat(agent.nodeId), json.encode({ at: Date.now(), seq: ++seq, interval_ms: intervalMs, version: 'sim' }));
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

      const victims = agents.slice(0, Math.max(1, Math.floor(n / 10)));
      const stoppedAt = Date.now();
      for (const v of victims) clearInterval(v.timer);
      await h.waitFor('victims offline', async () => (await h.send('liveness_stats', {})).online <= n - victims.length, 60_000);
      const detectionS = (Date.now() - stoppedAt) / 1000;
      const r = {
        agents: n,
        enroll_s: +enrollSeconds.toFixed(1),
        heartbeat_lag_p50_ms: steady.lagP50Ms,
        heartbeat_lag_p99_ms: steady.lagP99Ms,
        heartbeat_lag_max_ms: steady.lagMaxMs,
        stopped: victims.length,
        offline_detection_s: +detectionS.toFixed(1),
        ok: detectionS <= 15 && steady.lagMaxMs < 1000,
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
  const best = (results as { agents: number; ok: boolean }[]).filter((r) => r.ok).reduce((m, r) => Math.max(m, r.agents), 0);
  console.log(JSON.stringify({ bench: 'simulated fleet', conditions: { heartbeat_interval_ms: intervalMs, missed: 3, cpus: cpus().length, cpu: cpus()[0]?.model }, results, largest_ok_n: best, target: 2000 }, null, 2));
}

if (require.main === module) void run().then(() => process.exit(0));
