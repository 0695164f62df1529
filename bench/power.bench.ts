import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startStack } from '../services/gateway/test/stack-harness';
import { conditions, record } from './lib/harness';
import { constantRate, loadLine } from './lib/load';

const BENCH = 'power';
const NODE_ECHO_TEMPLATE = '00000000-0000-4000-8000-000000000001';
const RATE = Number(process.env.BENCH_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const SERVERS = Number(process.env.BENCH_SERVERS ?? 20);

/**
 * Power-action round trip REST → gateway (auth, permission, visibility) → cmd.nodes.power → nodes
 * (per-server lock, decide, append) → agent.<id>.cmd.power → agent (driver) → reply → nodes →
 * gateway → HTTP response, at a constant rate over SERVERS running servers on one real agent.
 * The action is `start` on a running server: every hop runs and the agent answers from its driver
 * without spawning, so the figure is the control path, not process start-up time. Actions on one
 * server are serialized by design, so the same rate on a single server is reported beside it.
 */
export async function run(): Promise<void> {
  const stack = await startStack();
  try {
    const token = await stack.adminToken();
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const http = stack.http;
    const node = await http().post('/api/v1/nodes').set(headers).send({ name: 'bench-node', memory_mb: 65_536, cpu_percent: 6400, storage_size: '100G' });
    if (node.status !== 201) throw new Error(`bench: create node answered ${node.status}: ${JSON.stringify(node.body)}`);
    stack.startAgent(node.body.enrollment.token);
    await stack.waitFor('agent online', async () => (await http().get(`/api/v1/nodes/${node.body.id}`).set(headers)).body.state === 'online', 60_000);

    const ids: string[] = [];
    for (let i = 0; i < SERVERS; i++) {
      const limits = { memory_mb: 64, cpu_percent: 10, disk_mb: 50 };
      const server = await http().post('/api/v1/servers').set(headers).send({ name: `bench-${i}`, template_id: NODE_ECHO_TEMPLATE, node_id: node.body.id, limits });
      if (server.status !== 201) throw new Error(`bench: create server answered ${server.status}: ${JSON.stringify(server.body)}`);
      ids.push(server.body.id);
    }
    const state = async (id: string) => (await http().get(`/api/v1/servers/${id}`).set(headers)).body.state as string;
    for (const id of ids) await stack.waitFor('installed', async () => (await state(id)) === 'offline', 120_000);
    for (const id of ids) await http().post(`/api/v1/servers/${id}/power`).set(headers).send({ action: 'start' });
    for (const id of ids) await stack.waitFor('running', async () => (await state(id)) === 'running', 60_000);

    const body = JSON.stringify({ action: 'start' });
    const urls = ids.map((id) => `${stack.gateway.url}/api/v1/servers/${id}/power`);
    await constantRate({ urls, method: 'POST', headers, body, rate: RATE, duration: 3 }); // warm-up
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const spread = await constantRate({ urls, method: 'POST', headers, body, rate: RATE, duration: SECONDS });
    loop.disable();
    const single = await constantRate({ url: urls[0], method: 'POST', headers, body, rate: RATE, duration: 5 });
    for (const [label, r] of [['spread', spread], ['single', single]] as const) {
      if (r.non2xx + r.errors > 0) throw new Error(`bench: power (${label}): ${r.non2xx} non-2xx, ${r.errors} errors (${JSON.stringify(r.statuses)})`);
    }

    conditions(BENCH, {
      setup: 'auth, users, nodes and the gateway in the bench process (startStack), one real agent process with the process driver, load from bench/lib/rate-child.js in a child process (open loop, latency from each due time)',
      action: `POST /api/v1/servers/:id/power {"action":"start"} on running node-echo servers as the admin → 200 with the server's state`,
      [`${RATE}/s over ${SERVERS} servers, ${SECONDS} s`]: loadLine(spread),
      [`${RATE}/s on one server (serialized by its power lock), 5 s`]: loadLine(single),
      'event-loop delay of the services process during the spread run': `p50 ${(loop.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms, max ${(loop.max / 1e6).toFixed(1)} ms`,
    });
    record({ bench: BENCH, name: `power round trip p50 (REST, ${RATE}/s over ${SERVERS} servers)`, value: spread.p50, unit: 'ms', target: { op: '<=', value: 5 } });
    record({ bench: BENCH, name: `power round trip p99 (REST, ${RATE}/s over ${SERVERS} servers)`, value: spread.p99, unit: 'ms', target: { op: '<=', value: 20 } });
    record({ bench: BENCH, name: `power round trip p50 (REST, ${RATE}/s on one server)`, value: single.p50, unit: 'ms' });
    record({ bench: BENCH, name: `power round trip p99 (REST, ${RATE}/s on one server)`, value: single.p99, unit: 'ms' });
    for (const id of ids) await http().post(`/api/v1/servers/${id}/power`).set(headers).send({ action: 'kill' });
  } finally {
    await stack.stop();
  }
}

if (require.main === module) void run().then(() => process.exit(0));
