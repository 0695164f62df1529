import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AckPolicy, DeliverPolicy, JSONCodec, type NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { pluginDurableName, STREAMS, type CloudEvent } from '@encedeus/contracts';
import { CommandClient, ensureStreams } from '@encedeus/messaging';
import { PluginRunner } from '../services/plugins/src/delivery/plugin-runner';
import { PluginsProjection } from '../services/plugins/src/projections/plugins.projection';
import { PluginSandbox } from '../services/plugins/src/sandbox/plugin-sandbox';
import { benchEnv, conditions, Latency, median, record, secondsSince } from './lib/harness';

/**
 * The plugins service's delivery (issue 13): events/s through one trivial plugin and through 50 at
 * once, beside a raw durable consumer with the same delivery (one in flight, explicit acks) on the
 * same events; sandbox start time and memory per plugin; append → webhook post latency.
 * Runners are the service's own (PluginRunner: the kernel's consume loop, a QuickJS runtime per
 * plugin in its own worker thread, a Postgres status row per event).
 */
const BENCH = 'plugins';
const EVENTS = Number(process.env.BENCH_PLUGIN_EVENTS ?? 2000);
const MANY = Number(process.env.BENCH_PLUGIN_MANY ?? 50);
const MANY_EVENTS = Number(process.env.BENCH_PLUGIN_MANY_EVENTS ?? 200);
const SANDBOXES = Number(process.env.BENCH_PLUGIN_SANDBOXES ?? 20);
const WEBHOOK_EVENTS = Number(process.env.BENCH_PLUGIN_WEBHOOK_EVENTS ?? 300);
const TRIVIAL = 'export default { onEvent(event, ctx) { return event.data.n; } };';

const codec = JSONCodec<CloudEvent>();

function cloudEvent(type: string, data: unknown): CloudEvent {
  const id = randomUUID();
  return { specversion: '1.0', id, source: 'encedeus/bench', type, subject: `bench/${id}`, time: new Date().toISOString(), datacontenttype: 'application/json', data, actor: 'system', aggregateversion: 1 };
}

async function append(nc: NatsConnection, count: number, type: string, data: (i: number) => unknown): Promise<void> {
  const js = nc.jetstream();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const e = cloudEvent(type, data(i));
    pending.push(js.publish(`evt.bench.${e.id}`, codec.encode(e)));
    if (pending.length >= 200) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}

async function lastSequence(nc: NatsConnection): Promise<number> {
  return (await (await nc.jetstreamManager()).streams.info(STREAMS.events)).state.last_seq;
}

/** Waits until every plugin's durable has nothing pending or in flight past `last` (each event handled and acked). */
async function waitDelivered(nc: NatsConnection, ids: string[], last: number, timeoutMs: number): Promise<void> {
  const jsm = await nc.jetstreamManager();
  const deadline = Date.now() + timeoutMs;
  for (const id of ids) {
    for (;;) {
      const info = await jsm.consumers.info(STREAMS.events, pluginDurableName(id)).catch(() => null);
      if (info && info.num_pending === 0 && info.num_ack_pending === 0 && info.ack_floor.stream_seq >= last) break;
      if (Date.now() > deadline) throw new Error(`bench/plugins: plugin ${id} not caught up with ${last} in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function runner(nc: NatsConnection, db: DataSource, commands: CommandClient, code: string, permissions: string[], from: number, config: unknown = {}): PluginRunner {
  return new PluginRunner(
    { id: randomUUID(), name: 'bench', events: ['bench.*'], permissions, config, code, installedSequence: from },
    nc,
    db,
    { commands },
    { attempts: 1, suspendAfter: 1_000_000 },
    async () => undefined,
  );
}

export async function run(): Promise<void> {
  const env = benchEnv();
  const nc = await env.connect();
  await ensureStreams(await nc.jetstreamManager());
  const db = await new DataSource({ type: 'postgres', url: env.db.url, extra: { max: 20 } }).initialize();
  await db.query('create schema if not exists plugins');
  await new PluginsProjection().migrate(db.manager);
  const commands = new CommandClient(nc);
  conditions(BENCH, { events: EVENTS, plugins: MANY, events_each_of_many: MANY_EVENTS, sandboxes: SANDBOXES });

  // Sandbox start time and memory per plugin (the first start also loads QuickJS's module: not counted).
  const warm = new PluginSandbox({ code: TRIVIAL, config: {}, permissions: [], capabilities: async () => undefined, log: () => undefined });
  await warm.start();
  const rssBefore = process.memoryUsage().rss;
  const starts: number[] = [];
  const sandboxes: PluginSandbox[] = [];
  for (let i = 0; i < SANDBOXES; i++) {
    const s = new PluginSandbox({ code: TRIVIAL, config: {}, permissions: [], capabilities: async () => undefined, log: () => undefined });
    const t = process.hrtime.bigint();
    await s.start();
    starts.push(secondsSince(t) * 1000);
    sandboxes.push(s);
  }
  const perPluginMiB = (process.memoryUsage().rss - rssBefore) / SANDBOXES / 2 ** 20;
  record({ bench: BENCH, name: 'sandbox start (worker + QuickJS runtime + module), median', value: median(starts), unit: 'ms', target: { op: '<=', value: 10 } });
  record({ bench: BENCH, name: 'memory per plugin sandbox (process RSS / sandboxes)', value: perPluginMiB, unit: 'MiB', target: { op: '<=', value: 2 } });
  await Promise.all([warm, ...sandboxes].map((s) => s.stop()));

  // Raw: a durable that only acks, one message in flight like a plugin's.
  const from = await lastSequence(nc);
  await append(nc, EVENTS, 'bench.recorded', (n) => ({ n }));
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add(STREAMS.events, { durable_name: 'bench_raw', filter_subject: 'evt.bench.>', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from + 1, max_ack_pending: 1 });
  let t = process.hrtime.bigint();
  const messages = await (await nc.jetstream().consumers.get(STREAMS.events, 'bench_raw')).consume({ max_messages: 1 });
  let seen = 0;
  for await (const m of messages) {
    m.ack();
    if (++seen >= EVENTS) break;
  }
  const rawRate = EVENTS / secondsSince(t);
  await jsm.consumers.delete(STREAMS.events, 'bench_raw');

  // One trivial plugin over the same events.
  const one = runner(nc, db, commands, TRIVIAL, [], from);
  t = process.hrtime.bigint();
  await one.start();
  await waitDelivered(nc, [one.plugin.id], from + EVENTS, 120_000);
  const oneRate = EVENTS / secondsSince(t);
  await one.stop();
  record({ bench: BENCH, name: 'events/s through one trivial plugin', value: oneRate, unit: 'events/s', raw: { name: 'raw durable, 1 in flight, ack only', value: rawRate, unit: 'events/s' } });

  // 50 plugins at once, each over the same MANY_EVENTS.
  const fromMany = await lastSequence(nc);
  await append(nc, MANY_EVENTS, 'bench.recorded', (n) => ({ n }));
  const many = Array.from({ length: MANY }, () => runner(nc, db, commands, TRIVIAL, [], fromMany));
  t = process.hrtime.bigint();
  await Promise.all(many.map((r) => r.start()));
  await waitDelivered(nc, many.map((r) => r.plugin.id), fromMany + MANY_EVENTS, 180_000);
  const manyRate = (MANY * MANY_EVENTS) / secondsSince(t);
  await Promise.all(many.map((r) => r.stop()));
  record({ bench: BENCH, name: `events/s through ${MANY} plugins at once (deliveries, sandboxes started inside)`, value: manyRate, unit: 'events/s', raw: { name: 'raw durable, 1 in flight, ack only', value: rawRate, unit: 'events/s' } });

  // Append → webhook post: a plugin posts each event to a loopback sink; latency from the publish.
  const latency = new Latency();
  let received = 0;
  const sink = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { sent: number };
      latency.recordMs(Date.now() - body.sent);
      received++;
      res.end('{}');
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const { port } = sink.address() as AddressInfo;
  const hook = runner(nc, db, commands, 'export default { async onEvent(e, ctx) { await ctx.http.post(ctx.config.url, { sent: e.data.sent }); } };', [`http:127.0.0.1:${port}`], await lastSequence(nc), {
    url: `http://127.0.0.1:${port}/hook`,
  });
  await hook.start();
  const js = nc.jetstream();
  for (let i = 0; i < WEBHOOK_EVENTS; i++) {
    const e = cloudEvent('bench.recorded', { sent: Date.now() });
    await js.publish(`evt.bench.${e.id}`, codec.encode(e));
    await new Promise((r) => setTimeout(r, 10));
  }
  const deadline = Date.now() + 30_000;
  while (received < WEBHOOK_EVENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await hook.stop();
  sink.close();
  record({ bench: BENCH, name: 'append → webhook post p99 (one event every 10 ms)', value: latency.percentileMs(99), unit: 'ms', target: { op: '<=', value: 100 }, note: latency.summary() });

  await db.destroy();
}
