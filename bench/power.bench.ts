import { cpus } from 'node:os';
import { benchFleet } from './fleet-bench-env';
import { NODE_ECHO_TEMPLATE } from '../services/nodes/test/fleet-harness';

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/**
 * Power-action round trip: client → cmd.nodes.power → nodes (mutex, load, decide) → agent.<id>.cmd.power
 * → agent (queue, driver) → reply → nodes (append if changed) → client, at a fixed rate.
 * The action is `start` on a running server: every step runs, the agent's driver call is a no-op,
 * so the figure is the control path, not process spawn time. REST adds the gateway hop (not measured here).
 */
export async function run(options: { rate?: number; seconds?: number } = {}): Promise<void> {
  const rate = options.rate ?? 200;
  const seconds = options.seconds ?? 10;
  const h = await benchFleet();
  try {
    const node = await h.createNode('bench-node');
    h.startAgent({ token: node.enrollment.token });
    await h.waitFor('agent online', async () => (await h.send('get_node', { id: node.id })).spec, 60_000);
    const server = await h.send('create_server', { name: 'bench', template_id: NODE_ECHO_TEMPLATE, node_id: node.id });
    await h.waitFor('installed', async () => (await h.send('get_server', { id: server.id })).state === 'offline');
    await h.send('power', { id: server.id, action: 'start' });
    await h.waitFor('running', async () => (await h.send('get_server', { id: server.id })).state === 'running');

    for (let i = 0; i < 200; i++) await h.send('power', { id: server.id, action: 'start' }); // warm-up
    const latencies: number[] = [];
    const total = rate * seconds;
    const started = performance.now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const t0 = performance.now();
      inflight.push(h.send('power', { id: server.id, action: 'start' }).then(() => void latencies.push(performance.now() - t0)));
    }
    await Promise.all(inflight);
    const elapsed = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    console.log(
      JSON.stringify(
        {
          bench: 'power round trip (client → nodes → agent → reply)',
          conditions: { target_rate_per_s: rate, achieved_rate_per_s: +(total / elapsed).toFixed(1), actions: total, cpus: cpus().length, cpu: cpus()[0]?.model, transport: 'NATS request (no HTTP)' },
          p50_ms: +quantile(latencies, 0.5).toFixed(2),
          p99_ms: +quantile(latencies, 0.99).toFixed(2),
          max_ms: +latencies[latencies.length - 1].toFixed(2),
          targets: { p50_ms: 5, p99_ms: 20 },
        },
        null,
        2,
      ),
    );
    await h.send('power', { id: server.id, action: 'kill' });
    await h.send('delete_server', { id: server.id });
  } finally {
    await h.stop();
  }
}

if (require.main === module) void run().then(() => process.exit(0));
