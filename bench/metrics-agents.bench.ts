import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pack, unpack } from 'msgpackr';
import { randomUUID } from 'node:crypto';
import { CommandClient } from '@encedeus/messaging';
import { ExternalAgentVerbs } from '@encedeus/contracts';
import { MetricsModule as GatewayMetricsModule } from '../services/gateway/src/metrics/metrics.module';
import { createGatewayApp } from '../services/gateway/src/gateway.app';
import { testPrincipalModule } from '../services/gateway/test/test-principal';
import { benchEnv, conditions, record } from './lib/harness';
import { closedLoop, constantRate, constantRateOnSockets, loadLine } from './lib/load';

/**
 * Issue 12's external-agent figure: `POST /api/v1/agents/data` in MessagePack (seed 002) through the
 * gateway (auth guard, body decoding and zod validation, CommandClient) → NATS → the metrics service
 * (activity monitor, data document and numeric series written to Postgres) → `{"result":"success"}`
 * in MessagePack. The gateway takes these requests ahead of Nest (metrics/agent-ingest.ts) and sends
 * the documents of concurrent requests as one batch; the metrics service runs in its own process. Beside it in the same run: a bare node:http server that decodes the same body and
 * answers the same bytes (the HTTP floor on this machine). Load from a child process.
 */
const BENCH = 'metrics-agents';
const RATE = Number(process.env.BENCH_AGENTS_RATE ?? 5000);

export async function run(): Promise<void> {
  const env = benchEnv();
  // The metrics service in a process of its own, as `npm run dev` and a deployment run it: it does not share the gateway's event loop.
  const root = join(__dirname, '..');
  const metrics = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', join(root, 'services/metrics/src/main.ts')], {
    cwd: root,
    env: { ...process.env, NATS_URL: env.nats.url, NATS_CREDS: await env.nats.creds('metrics'), DATABASE_URL: env.db.url, ENCEDEUS_CONFIG: join(root, 'bench', 'no-such.hcl'), LOG_LEVEL: 'warn', TS_NODE_PROJECT: join(root, 'tsconfig.json') },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const direct = await env.connect('gateway', 'bench-agents-direct');
  const commands = new CommandClient(direct);
  for (let tries = 0; ; tries++) {
    try {
      await commands.send('metrics', ExternalAgentVerbs.list, {}, { correlationId: randomUUID(), actor: 'service:bench' }, { timeoutMs: 1000 });
      break;
    } catch (error) {
      if (tries > 120 || metrics.exitCode !== null) throw new Error(`bench: the metrics service did not start: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const gateway = await createGatewayApp(
    { nats: { servers: env.nats.url, creds: await env.nats.creds('gateway') }, databaseUrl: env.db.url, signer: env.nats.signer, features: [testPrincipalModule(), GatewayMetricsModule.forRoot()], logLevel: 'silent' },
    0,
    '127.0.0.1',
  );
  const success = pack({ result: 'success' });
  const bare = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      unpack(Buffer.concat(chunks));
      res.writeHead(200, { 'content-type': 'application/msgpack', 'content-length': success.length }).end(success);
    });
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  try {
    const body = pack({ id: 'bench-agent-1', type: 'ethereum_metrics', data: { block: 1234567, peers: 25, syncing: false, gas_price: 12.5 } }).toString('base64');
    const headers = { authorization: 'Bearer all', 'content-type': 'application/msgpack', accept: 'application/msgpack' };
    const ours = { url: `${gateway.url}/api/v1/agents/data`, method: 'POST', headers, bodyBase64: body };
    const raw = { url: `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`, method: 'POST', headers, bodyBase64: body };
    await closedLoop({ ...ours, connections: 8, duration: 3 }); // warm-up: JIT, pools, partitions
    const closed = await closedLoop({ ...ours, connections: 16, duration: 8 });
    const rawClosed = await closedLoop({ ...raw, connections: 16, duration: 5 });
    // A fleet of agents reports over many connections at once: the gateway's batches fill up.
    const fleet = await closedLoop({ ...ours, connections: 64, duration: 8 });
    const rawFleet = await closedLoop({ ...raw, connections: 64, duration: 5 });
    // The open loop from a client as light as a load generator in C (wrk2) would be: node:http's
    // client costs about as much CPU per request as the bare server, on the same two cores.
    const open = await constantRateOnSockets({ ...ours, rate: RATE, duration: 8, warmup: 2 });
    // The same load generator against the bare server: what the client and the machine add to any p99.
    const rawOpen = await constantRateOnSockets({ ...raw, rate: RATE, duration: 8, warmup: 2 });
    // And from node:http's client, as every run before 2026-12-02 (evening) measured it.
    const openHttp = await constantRate({ ...ours, rate: RATE, duration: 8, warmup: 2 });
    const rawOpenHttp = await constantRate({ ...raw, rate: RATE, duration: 8, warmup: 2 });
    // Where the time goes: the same command straight to the metrics service (no HTTP), 16 in flight.
    const document = { id: 'bench-agent-1', type: 'ethereum_metrics', data: { block: 1234567, peers: 25, syncing: false, gas_price: 12.5 } };
    let sentDirect = 0;
    const directEnd = Date.now() + 5000;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (; Date.now() < directEnd; sentDirect++) await commands.send('metrics', ExternalAgentVerbs.data, document, { correlationId: randomUUID(), actor: 'service:bench' });
      }),
    );
    const directRate = sentDirect / 5;
    if (closed.non2xx + open.non2xx + openHttp.non2xx + fleet.non2xx + open.errors + openHttp.errors > 0) throw new Error(`bench: the ingest answered non-2xx: ${JSON.stringify({ closed: closed.statuses, fleet: fleet.statuses, open: open.statuses, openHttp: openHttp.statuses, errors: open.errors + openHttp.errors })}`);
    record({ bench: BENCH, name: 'external-agent ingest over REST (POST /agents/data, MessagePack), 64 connections', value: fleet.rps, unit: 'req/s', target: { op: '>=', value: 5000 }, raw: { name: 'bare node:http server decoding the same body, 64 connections', value: rawFleet.rps, unit: 'req/s' } });
    record({ bench: BENCH, name: 'the same with 16 connections', value: closed.rps, unit: 'req/s', raw: { name: 'bare node:http server decoding the same body, 16 connections', value: rawClosed.rps, unit: 'req/s' } });
    record({ bench: BENCH, name: 'the same command to the metrics service without HTTP (CommandClient, 16 in flight)', value: directRate, unit: 'req/s', raw: { name: 'bare node:http server decoding the same body, 16 connections', value: rawClosed.rps, unit: 'req/s' } });
    record({ bench: BENCH, name: `the same at a constant ${RATE} req/s, p99 (socket client)`, value: open.p99, unit: 'ms', target: { op: '<=', value: 20 }, raw: { name: `bare node:http server at the same rate, p99`, value: rawOpen.p99, unit: 'ms' } });
    record({ bench: BENCH, name: `the same at a constant ${RATE} req/s, p99 (node:http client)`, value: openHttp.p99, unit: 'ms', raw: { name: `bare node:http server at the same rate, p99`, value: rawOpenHttp.p99, unit: 'ms' } });
    conditions(BENCH, {
      setup: 'gateway (createGatewayApp, metrics routes, test principal) in the bench process, the metrics service (services/metrics/src/main.ts under ts-node) in a process of its own, one nats-server, local Postgres; load from a child process (autocannon closed loop; open loop after 2 s of warm-up at the same rate, latency from each due time: bench/lib/socket-rate-child.js, the request bytes on keep-alive sockets and answers read by Content-Length, for the target; bench/lib/rate-child.js, the node:http client, beside it)',
      'closed loop, 64 connections': loadLine(fleet),
      'closed loop, 16 connections': loadLine(closed),
      'bare HTTP, 64 connections': loadLine(rawFleet),
      'constant rate, socket client': loadLine(open),
      'bare HTTP at the same constant rate, socket client': loadLine(rawOpen),
      'constant rate, node:http client': loadLine(openHttp),
      'bare HTTP at the same constant rate, node:http client': loadLine(rawOpenHttp),
      'bare HTTP': loadLine(rawClosed),
    });
  } finally {
    bare.close();
    await gateway.close().catch(() => undefined);
    await direct.close();
    metrics.kill('SIGTERM');
    await new Promise((r) => (metrics.exitCode !== null ? r(undefined) : metrics.once('exit', r)));
  }
}
