import 'reflect-metadata';
import { Module, type DynamicModule } from '@nestjs/common';
import { fork, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { JSONCodec } from 'nats';
import { io as connectSocket, type Socket as ClientSocket } from 'socket.io-client';
import { ALL_PERMISSIONS, Subjects, UnauthenticatedError } from '@encedeus/contracts';
import { PRINCIPAL_RESOLVER, type PrincipalResolver } from '@encedeus/security';
import { benchEnv, conditions, Latency, record } from './lib/harness';

/**
 * Console line latency, agent → browser: lines published on `console.<id>.out` (as the agent
 * does, so stream CONSOLE stores them too) at 1,000 lines/s for one server, received by one
 * socket.io client in room `server:<id>` through a gateway running in its own process. Beside it,
 * in the same run, a plain NATS subscriber on the same subject (the raw hop).
 */
const BENCH = 'console-latency';
const RATE = 1000;
const WARMUP_S = 2;
const ROUNDS = 3;
const ROUND_S = 5;

const now = () => performance.timeOrigin + performance.now();

// ---- the gateway child process (shared with socket-clients.bench.ts)

/** `Bearer bench:<userId>`: every permission. */
const benchResolver: PrincipalResolver = {
  async resolve(authorization) {
    if (!authorization) return null;
    const token = authorization.replace(/^Bearer\s+/i, '');
    if (!token.startsWith('bench:')) throw new UnauthenticatedError('bench tokens are bench:<user>');
    const userId = token.slice('bench:'.length);
    return { kind: 'user', userId, actor: `user:${userId}`, permissions: new Set(ALL_PERMISSIONS) };
  },
};

function benchPrincipalModule(): DynamicModule {
  @Module({})
  class BenchPrincipalModule {}
  return { module: BenchPrincipalModule, providers: [{ provide: PRINCIPAL_RESOLVER, useValue: benchResolver }], exports: [PRINCIPAL_RESOLVER], global: true };
}

interface ChildConfig {
  natsUrl: string;
  creds: string;
  databaseUrl: string;
}

async function childMain(config: ChildConfig): Promise<void> {
  const { createGatewayApp } = await import('../services/gateway/src/gateway.app');
  const { RealtimeModule } = await import('../services/gateway/src/realtime/realtime.module');
  const gateway = await createGatewayApp(
    {
      nats: { servers: config.natsUrl, creds: config.creds },
      databaseUrl: config.databaseUrl,
      services: [],
      features: [benchPrincipalModule(), RealtimeModule.forRoot()],
      logLevel: 'silent',
    },
    0,
    '127.0.0.1',
  );
  process.send!({ url: gateway.url });
  process.on('message', async (m: { stop?: boolean; cpu?: boolean }) => {
    if (m.cpu) process.send!({ cpu: process.cpuUsage(), rss: process.memoryUsage().rss });
    if (m.stop) {
      await gateway.close().catch(() => undefined);
      process.exit(0);
    }
  });
}

if (process.env.ENCEDEUS_BENCH_GATEWAY_CHILD === '1') {
  process.once('message', (config: ChildConfig) => {
    childMain(config).catch((error) => {
      console.error(error);
      process.exit(1);
    });
  });
}

/** A gateway with RealtimeModule in its own Node process, on the bench's NATS and database. */
export interface GatewayProcess {
  url: string;
  child: ChildProcess;
  /** CPU seconds (user + system) the gateway process has used so far. */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

export async function startGatewayProcess(): Promise<GatewayProcess> {
  const env = benchEnv();
  const child = fork(__filename, [], {
    execArgv: ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'],
    env: { ...process.env, ENCEDEUS_BENCH_GATEWAY_CHILD: '1', TS_NODE_TRANSPILE_ONLY: 'true' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const config: ChildConfig = { natsUrl: env.nats.url, creds: await env.nats.creds('gateway'), databaseUrl: env.db.url };
  child.send(config);
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { url: string }) => resolve(m.url));
    child.once('exit', (code) => reject(new Error(`bench gateway exited with ${code}`)));
  });
  return {
    url,
    child,
    cpuSeconds: () =>
      new Promise((resolve) => {
        child.once('message', (m: { cpu: NodeJS.CpuUsage }) => resolve((m.cpu.user + m.cpu.system) / 1e6));
        child.send({ cpu: true });
      }),
    stop: () =>
      new Promise((resolve) => {
        const timer = setTimeout(() => (child.kill('SIGKILL'), resolve()), 10_000);
        child.once('exit', () => (clearTimeout(timer), resolve()));
        child.send({ stop: true });
      }),
  };
}

/** Connects one socket.io client the way the console does. */
export function connectBenchClient(url: string, user: string): Promise<ClientSocket> {
  const socket = connectSocket(url, { path: '/socket.io', transports: ['websocket'], auth: { token: `bench:${user}` }, reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

/** Publishes `total` messages at `rate`/s, evenly spread (small bursts when the timer is late). */
export async function paced(rate: number, seconds: number, send: (n: number) => void): Promise<void> {
  const start = now();
  const total = Math.round(rate * seconds);
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((now() - start) / 1000) * rate) + 1);
    while (sent < due) send(sent++);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

// ---- the bench

export async function run(): Promise<void> {
  const env = benchEnv();
  const gateway = await startGatewayProcess();
  const nc = await env.connect('admin', 'bench-agent');
  const rawNc = await env.connect('admin', 'bench-raw');
  const serverId = 'bench-server-1';
  const subject = Subjects.consoleOut(serverId);
  const codec = JSONCodec<{ line: string; stream: string; at: number }>();
  try {
    const socket = await connectBenchClient(gateway.url, 'bench-user');
    const ack = await socket.emitWithAck('subscribe', { room: `server:${serverId}` });
    if (!ack.ok) throw new Error(`subscribe failed: ${JSON.stringify(ack)}`);

    let measuring = false;
    let viaGateway = new Latency();
    let raw = new Latency();
    let received = 0;
    socket.on('console.line', (m: { at: number }) => {
      received++;
      if (measuring) viaGateway.recordMs(now() - m.at);
    });
    rawNc.subscribe(subject, { callback: (_e, m) => measuring && raw.recordMs(now() - codec.decode(m.data).at) });
    await rawNc.flush();

    const publish = (n: number) => nc.publish(subject, codec.encode({ line: `[${n}] Server thread/INFO: Player${n % 50} moved to 12.5, 64.0, -3.25`, stream: 'stdout', at: now() }));
    await paced(RATE, WARMUP_S, publish);
    const rounds: { gateway: Latency; raw: Latency; cpu: number; load: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      viaGateway = new Latency();
      raw = new Latency();
      const cpu0 = await gateway.cpuSeconds();
      measuring = true;
      await paced(RATE, ROUND_S, publish);
      await new Promise((resolve) => setTimeout(resolve, 300));
      measuring = false;
      rounds.push({ gateway: viaGateway, raw, cpu: ((await gateway.cpuSeconds()) - cpu0) / ROUND_S, load: os.loadavg()[0] });
    }
    const sent = RATE * (WARMUP_S + ROUNDS * ROUND_S);
    const byP99 = [...rounds].sort((x, y) => x.gateway.percentileMs(99) - y.gateway.percentileMs(99));
    const mid = byP99[Math.floor(ROUNDS / 2)];

    conditions(BENCH, {
      workload: `${RATE} lines/s on one server (console.${serverId}.out, ~70-byte lines as agent JSON {line, stream, at}), ${WARMUP_S} s warm-up then ${ROUNDS} rounds of ${ROUND_S} s; the round with the median p99 is reported`,
      path: 'bench publisher (NATS core publish; stream CONSOLE stores every line) → nats-server → gateway process (RealtimeModule, Postgres adapter on) → socket.io websocket → socket.io-client in the bench process',
      'latency clock': 'one clock: publisher and receiving client are in the same process (timestamp in the line)',
      ...Object.fromEntries(
        rounds.flatMap((round, i) => [
          [`round ${i + 1} via gateway`, `${round.gateway.summary()}; gateway CPU ${(round.cpu * 100).toFixed(0)} % of a core; machine load average ${round.load.toFixed(1)}`],
          [`round ${i + 1} raw NATS subscriber`, round.raw.summary()],
        ]),
      ),
      'lines received by the client': `${received} of ${sent}`,
    });
    record({
      bench: BENCH,
      name: `console line latency p50 @ ${RATE} lines/s`,
      value: mid.gateway.percentileMs(50),
      unit: 'ms',
      raw: { name: 'NATS subscriber p50', value: mid.raw.percentileMs(50), unit: 'ms' },
    });
    record({
      bench: BENCH,
      name: `console line latency p99 @ ${RATE} lines/s`,
      value: mid.gateway.percentileMs(99),
      unit: 'ms',
      target: { op: '<=', value: 50 },
      raw: { name: 'NATS subscriber p99', value: mid.raw.percentileMs(99), unit: 'ms' },
      note: `median of ${ROUNDS} rounds' p99 (${rounds.map((x) => x.gateway.percentileMs(99).toFixed(1)).join(', ')} ms); machine load average ${rounds.map((x) => x.load.toFixed(1)).join(', ')} on ${os.cpus().length} cores${received < sent ? `; client received ${received} of ${sent} lines` : ''}`,
    });
    socket.disconnect();
  } finally {
    await gateway.stop();
  }
}
