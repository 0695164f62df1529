import * as os from 'node:os';
import { JSONCodec } from 'nats';
import type { Socket as ClientSocket } from 'socket.io-client';
import { Subjects } from '@encedeus/contracts';
import { connectBenchClient, paced, startGatewayProcess } from './console-latency.bench';
import { benchEnv, conditions, Latency, record } from './lib/harness';

/**
 * How many socket.io clients one gateway serves with live usage at 1 update/s each before the
 * p99 push latency passes 250 ms. Every client watches its own node (`node:n<i>`), and every node
 * publishes one usage sample per second on `tel.<node>.usage` (spread evenly over the second), so
 * the gateway handles one NATS message and one socket.io push per client per second. The gateway
 * runs in its own process; clients and publisher share the bench process.
 */
const BENCH = 'socket-clients';
const STEPS = [250, 500, 1000, 1500, 2000, 2500, 3000, 4000, 5000];
const SETTLE_S = 2;
const MEASURE_S = 6;
const LIMIT_MS = 250;
const CONNECT_CONCURRENCY = 50;

export async function run(): Promise<void> {
  const env = benchEnv();
  const gateway = await startGatewayProcess();
  const nc = await env.connect('admin', 'bench-agents');
  const rawNc = await env.connect('admin', 'bench-raw');
  const codec = JSONCodec<Record<string, unknown>>();
  const sockets: ClientSocket[] = [];
  let measuring = false;
  let latency = new Latency();
  let raw = new Latency();
  let pushes = 0;
  rawNc.subscribe('tel.*.usage', { callback: (_e, m) => measuring && raw.recordMs(Date.now() - (codec.decode(m.data).at as number)) });
  await rawNc.flush();

  const rows: { clients: number; p50: number; p99: number; rawP99: number; perClient: number; cpu: number; clientsCpu: number; connectS: number; load: number }[] = [];
  let best = 0;
  try {
    for (const target of STEPS) {
      const t0 = Date.now();
      while (sockets.length < target) {
        const batch = Array.from({ length: Math.min(CONNECT_CONCURRENCY, target - sockets.length) }, async (_, k) => {
          const i = sockets.length + k;
          const socket = await connectBenchClient(gateway.url, `user-${i}`);
          socket.on('node.usage', (u: { at: string }) => {
            pushes++;
            if (measuring) latency.recordMs(Date.now() - Date.parse(u.at));
          });
          const ack = await socket.emitWithAck('subscribe', { room: `node:n${i}` });
          if (!ack.ok) throw new Error(`subscribe failed: ${JSON.stringify(ack)}`);
          return socket;
        });
        sockets.push(...(await Promise.all(batch)));
      }
      const connectS = (Date.now() - t0) / 1000;

      const clients = sockets.length;
      const publish = (n: number) => {
        const node = `n${n % clients}`;
        nc.publish(
          Subjects.nodeUsage(node),
          codec.encode({ node_id: node, at: Date.now(), cpu_percent: 12.5, load: [0.5, 0.4, 0.3], memory_used: 2e9, memory_total: 8e9, disk_used: 1e10, disk_total: 1e11, net_rx: 1e6, net_tx: 2e6, servers: [] }),
        );
      };
      await paced(clients, SETTLE_S, publish);
      latency = new Latency();
      raw = new Latency();
      pushes = 0;
      const cpu0 = await gateway.cpuSeconds();
      const own0 = process.cpuUsage();
      measuring = true;
      await paced(clients, MEASURE_S, publish);
      await new Promise((resolve) => setTimeout(resolve, 500));
      measuring = false;
      const cpu = ((await gateway.cpuSeconds()) - cpu0) / MEASURE_S;
      const own = process.cpuUsage(own0);
      const clientsCpu = (own.user + own.system) / 1e6 / MEASURE_S;
      const row = {
        clients,
        p50: latency.percentileMs(50),
        p99: latency.percentileMs(99),
        rawP99: raw.percentileMs(99),
        perClient: pushes / clients / MEASURE_S,
        cpu,
        clientsCpu,
        connectS,
        load: os.loadavg()[0],
      };
      rows.push(row);
      console.log(`    ${clients} clients: push latency ${latency.summary()}; ${row.perClient.toFixed(2)} pushes/s per client; gateway CPU ${(cpu * 100).toFixed(0)} %, bench process (clients + publisher) CPU ${(clientsCpu * 100).toFixed(0)} %`);
      if (row.p99 > LIMIT_MS || row.perClient < 0.9) break;
      best = clients;
    }
  } finally {
    for (const socket of sockets) socket.disconnect();
    await gateway.stop();
  }

  const at2000 = rows.find((r) => r.clients === 2000);
  conditions(BENCH, {
    workload: `steps of ${STEPS.join(', ')} clients; each client in its own room node:n<i>, one usage sample per node per second on tel.n<i>.usage spread evenly, so 1 push/s per client; ${SETTLE_S} s settle then ${MEASURE_S} s measured per step; stop at p99 > ${LIMIT_MS} ms or < 0.9 pushes/s per client`,
    path: 'bench publisher (NATS core publish, stream TELEMETRY stores samples) → nats-server → gateway process (RealtimeModule, per-message permission check, 1/s throttle per room, Postgres adapter on) → socket.io websocket → socket.io-client',
    'latency clock': 'Date.now() at publish (the sample `at`, ms) vs Date.now() at the client, same process',
    'clients side': `all socket.io-client sockets in the bench process (websocket transport); on ${os.cpus().length} cores the clients, nats-server and Postgres share the machine with the gateway`,
    ...Object.fromEntries(
      rows.map((r) => [
        `${r.clients} clients`,
        `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms (raw NATS p99 ${r.rawP99.toFixed(1)} ms), ${r.perClient.toFixed(2)} pushes/s per client, gateway CPU ${(r.cpu * 100).toFixed(0)} % of a core, bench process (clients + publisher) CPU ${(r.clientsCpu * 100).toFixed(0)} %, connected in ${r.connectS.toFixed(1)} s, machine load average ${r.load.toFixed(1)}`,
      ]),
    ),
  });
  record({
    bench: BENCH,
    name: `socket.io clients with 1 usage push/s each at p99 ≤ ${LIMIT_MS} ms`,
    value: best,
    unit: 'clients',
    target: { op: '>=', value: 2000 },
    note: best === STEPS[STEPS.length - 1]
      ? `the last step (${best}) still met the limit; the real limit is higher`
      : rows[rows.length - 1] && rows[rows.length - 1].clientsCpu > 0.85 && rows[rows.length - 1].cpu < 0.85
        ? `first step over the limit: ${rows[rows.length - 1].clients} clients, p99 ${rows[rows.length - 1].p99.toFixed(1)} ms, with the bench process (socket.io clients) saturated and the gateway not: a floor for the gateway, not its limit`
        : `first step over the limit: ${rows[rows.length - 1]?.clients} clients, p99 ${rows[rows.length - 1]?.p99.toFixed(1)} ms`,
  });
  if (at2000) {
    record({
      bench: BENCH,
      name: 'usage push latency p99 at 2,000 clients',
      value: at2000.p99,
      unit: 'ms',
      target: { op: '<=', value: LIMIT_MS },
      raw: { name: 'NATS subscriber p99', value: at2000.rawP99, unit: 'ms' },
    });
  }
}
