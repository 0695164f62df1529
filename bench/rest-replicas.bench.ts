import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { STREAMS } from '@encedeus/contracts';
import type { Projector } from '@encedeus/messaging';
import { AUDIT_PROJECTOR } from '../services/gateway/src/gateway.module';
import { benchEnv, conditions, fmt, Latency, record } from './lib/harness';
import { closedLoop, constantRate, loadLine, type LoadResult } from './lib/load';
import { startPingStack, type PingStackOptions } from './lib/ping-stack';

/**
 * The REST round trip of rest-roundtrip.bench.ts (HTTP → gateway → NATS → stub nodes service →
 * append → reply) with one replica and with two, in the same run: replica A (gateway + service) in
 * this process, replica B in a process of its own (lib/ping-replica-child.ts), as two pods would be.
 * With two, NATS's queue group spreads the commands of either gateway over both services, and both
 * gateways share the audit projector's durable. Load comes from a child process.
 */
const BENCH = 'rest-replicas';

function startReplicaB(options: PingStackOptions): Promise<{ child: ChildProcess; url: string }> {
  const root = join(__dirname, '..');
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', join(__dirname, 'lib', 'ping-replica-child.ts')], {
    cwd: root,
    env: { ...process.env, PING_REPLICA: JSON.stringify(options), TS_NODE_PROJECT: join(root, 'tsconfig.json') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const url = /^ready (\S+)$/m.exec(out)?.[1];
      if (url) resolve({ child, url });
    });
    child.once('exit', (code) => reject(new Error(`bench: replica B exited (${code}) before it was ready: ${out}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Two closed loops at once, one connection to each gateway: summed throughput, the worse of the two latencies. */
async function closedLoopOnBoth(urls: string[], request: { method: string; headers: Record<string, string>; body: string }, duration: number) {
  const results = await Promise.all(urls.map((url) => closedLoop({ ...request, url, connections: 1, duration })));
  return {
    results,
    rps: results.reduce((sum, r) => sum + r.rps, 0),
    p50: Math.max(...results.map((r) => r.p50)),
    p99: Math.max(...results.map((r) => r.p99)),
    failures: results.reduce((sum, r) => sum + r.non2xx + r.errors + r.timeouts, 0),
  };
}

/** Sequential core request/reply between two connections of this process (as in rest-roundtrip.bench.ts): the machine's floor in this run. */
async function rawRequestReply(requester: NatsConnection, responder: NatsConnection, count: number): Promise<Latency> {
  const sub = responder.subscribe('bench.echo', { callback: (_error, m) => m.respond(m.data) });
  await responder.flush();
  const payload = new TextEncoder().encode(JSON.stringify({ pattern: 'bench.echo', data: { n: 1 }, id: randomUUID() }));
  for (let i = 0; i < 200; i++) await requester.request('bench.echo', payload);
  const latency = new Latency();
  for (let i = 0; i < count; i++) await latency.time(() => requester.request('bench.echo', payload));
  sub.unsubscribe();
  return latency;
}

function assertClean(label: string, r: LoadResult): void {
  if (r.non2xx + r.errors + r.timeouts > 0) throw new Error(`bench: ${label}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts (${JSON.stringify(r.statuses)})`);
}

export async function run(): Promise<void> {
  const env = benchEnv();
  const options: PingStackOptions = {
    natsUrl: env.nats.url,
    gatewayCreds: await env.nats.creds('gateway'),
    nodesCreds: await env.nats.creds('nodes'),
    databaseUrl: env.db.url,
    signer: env.nats.signer,
  };
  const a = await startPingStack(options);
  let b: { child: ChildProcess; url: string } | undefined;
  try {
    const request = { method: 'POST', headers: { authorization: 'Bearer all', 'content-type': 'application/json' }, body: JSON.stringify({ n: 1 }) };
    const urlA = `${a.gateway.url}/api/v1/bench/ping`;
    const check = await fetch(urlA, { method: 'POST', headers: request.headers, body: request.body });
    if (check.status !== 201) throw new Error(`bench: POST /api/v1/bench/ping answered ${check.status}: ${await check.text()}`);

    await closedLoop({ ...request, url: urlA, connections: 4, duration: 2 }); // warm-up
    const singleClosed = await closedLoop({ ...request, url: urlA, connections: 2, duration: 5 });
    const singleRate = await constantRate({ ...request, url: urlA, rate: 400, duration: 6 });
    assertClean('one replica, closed loop', singleClosed);
    assertClean('one replica, 400 req/s', singleRate);

    b = await startReplicaB(options);
    const urlB = `${b.url}/api/v1/bench/ping`;
    await closedLoopOnBoth([urlA, urlB], request, 2); // warm-up of B (JIT, pools) and of the queue group
    const bothClosed = await closedLoopOnBoth([urlA, urlB], request, 5);
    const bothRate = await constantRate({ ...request, urls: [urlA, urlB], rate: 400, duration: 6 });
    if (bothClosed.failures > 0) throw new Error(`bench: two replicas, closed loop: ${bothClosed.failures} failed requests`);
    assertClean('two replicas, 400 req/s', bothRate);

    const raw = await rawRequestReply(await env.connect('admin', 'bench-requester'), await env.connect('admin', 'bench-responder'), 2000);

    conditions(BENCH, {
      setup:
        'replica A: gateway (createGatewayApp, pino silent, test principal, zod validation, audit projector) and the stub nodes service (one @MessagePattern appending one event to a new evt.server.<uuid>) in the bench process; replica B: the same pair in a child process (bench/lib/ping-replica-child.ts); one nats-server, one database; load from child processes (autocannon 9 closed loop; bench/lib/rate-child.js open loop)',
      request: `POST /api/v1/bench/ping, body ${request.body}, Authorization: Bearer all → 201`,
      'one replica, closed loop, 2 connections to gateway A, 5 s': loadLine(singleClosed),
      'one replica, open loop at a constant 400 req/s to gateway A, 6 s': loadLine(singleRate),
      'two replicas, closed loop, 1 connection to each gateway, 5 s': bothClosed.results.map((r, i) => `gateway ${'AB'[i]}: ${loadLine(r)}`).join('; '),
      'two replicas, open loop at a constant 400 req/s alternating gateways A and B, 6 s': loadLine(bothRate),
      'raw NATS request/reply (after the loads)': `core request → core subscriber on another connection of this process, ${fmt(raw.count)} sequential after 200 warm-up: ${raw.summary()}`,
    });
    record({ bench: BENCH, name: 'REST round trip throughput, 2 connections, one replica', value: singleClosed.rps, unit: 'req/s', note: `p50 ${singleClosed.p50.toFixed(2)} ms, p99 ${singleClosed.p99.toFixed(2)} ms; raw NATS request/reply p50 ${raw.percentileMs(50).toFixed(2)} ms` });
    record({
      bench: BENCH,
      name: 'REST round trip throughput, 2 connections, two replicas (one per gateway)',
      value: bothClosed.rps,
      unit: 'req/s',
      note: `${((bothClosed.rps / singleClosed.rps) * 100).toFixed(0)} % of one replica's in the same run; p50 ${bothClosed.p50.toFixed(2)} ms, p99 ${bothClosed.p99.toFixed(2)} ms (the worse gateway) vs one replica's p50 ${singleClosed.p50.toFixed(2)} ms, p99 ${singleClosed.p99.toFixed(2)} ms`,
    });
    for (const [label, r] of [
      ['one replica', singleRate],
      ['two replicas', bothRate],
    ] as const) {
      record({ bench: BENCH, name: `REST round trip p50 (constant 400 req/s, ${label})`, value: r.p50, unit: 'ms', target: { op: '<=', value: 3 }, raw: { name: 'NATS request/reply p50', value: raw.percentileMs(50), unit: 'ms' } });
      record({ bench: BENCH, name: `REST round trip p99 (constant 400 req/s, ${label})`, value: r.p99, unit: 'ms', target: { op: '<=', value: 15 }, raw: { name: 'NATS request/reply p99', value: raw.percentileMs(99), unit: 'ms' } });
    }
  } finally {
    if (b) await stopChild(b.child);
    // As in rest-roundtrip.bench.ts: let the audit projector catch up before it is stopped.
    const { connect } = env;
    const last = (await (await (await connect('admin', 'bench-info')).jetstreamManager()).streams.info(STREAMS.events)).state.last_seq;
    await a.gateway.app.get<Projector>(AUDIT_PROJECTOR).waitFor(last, 30_000).catch(() => undefined);
    await a.close();
  }
}
