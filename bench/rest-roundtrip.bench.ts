import { Body, Controller, Module, Post, Req } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import { JSONCodec, type NatsConnection } from 'nats';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { event, STREAMS, Subjects, type CloudEvent } from '@encedeus/contracts';
import {
  CommandClient,
  EventStore,
  MessagingModule,
  metaFromHeaders,
  NO_STREAM,
  startServiceApp,
  type Projector,
} from '@encedeus/messaging';
import { CurrentPrincipal, RequirePermission, type Principal } from '@encedeus/security';
import { createGatewayApp } from '../services/gateway/src/gateway.app';
import { AUDIT_PROJECTOR } from '../services/gateway/src/gateway.module';
import { commandMeta } from '../services/gateway/src/common/request-meta';
import { testPrincipalModule } from '../services/gateway/test/test-principal';
import { benchEnv, conditions, fmt, Latency, record } from './lib/harness';
import { benchPinged } from './lib/events';
import { closedLoop, constantRate, loadLine } from './lib/load';

/**
 * REST round trip of a trivial command: HTTP → gateway (auth guard, zod validation, CommandClient)
 * → NATS → a Nest microservice that appends one event with EventStore → reply → HTTP response.
 * The gateway and the stub service run in this process; autocannon runs in a child process.
 * Beside it, in the same run: raw NATS request/reply, a raw JetStream publish, and the same command
 * sent with CommandClient directly (no HTTP), to show where the time goes.
 */
const BENCH = 'rest-roundtrip';
const VERB = 'bench_ping';
const codec = JSONCodec<CloudEvent>();

const pingBody = z.object({ n: z.number().int() });
class PingBody extends createZodDto(pingBody) {}

/** The test-only gateway route: guarded like every real route, forwards to the stub service. */
@Controller('bench')
class BenchPingController {
  constructor(private readonly commands: CommandClient) {}

  @RequirePermission('servers.create')
  @Post('ping')
  ping(@Body() body: PingBody, @Req() req: Request, @CurrentPrincipal() principal: Principal | null) {
    return this.commands.send('nodes', VERB, body, commandMeta(req, principal));
  }

  /** The same route minus the NATS hop: what the gateway's HTTP pipeline alone costs. */
  @RequirePermission('servers.create')
  @Post('noop')
  noop(@Body() body: PingBody, @Req() req: Request, @CurrentPrincipal() principal: Principal | null) {
    return { id: commandMeta(req, principal).correlationId, version: 1, sequence: body.n };
  }
}
@Module({ controllers: [BenchPingController] })
class BenchGatewayModule {}

/** The stub service's only handler: append one event to a new aggregate, reply with its revision. */
@Controller()
class BenchPingHandler {
  constructor(private readonly store: EventStore) {}

  @MessagePattern(Subjects.command('nodes', VERB))
  async ping(@Payload() cmd: { n: number }, @Ctx() ctx: NatsContext) {
    const id = randomUUID();
    const { revision } = await this.store.append(
      'server',
      id,
      NO_STREAM,
      [event(benchPinged, { n: cmd.n })],
      metaFromHeaders(ctx.getHeaders()),
    );
    return { id, version: revision.version, sequence: revision.sequence };
  }
}

/** Sequential request/reply between two connections of this process, one in flight. */
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

export async function run(): Promise<void> {
  const env = benchEnv();
  const nodesCreds = await env.nats.creds('nodes');
  const service = await startServiceApp(
    'nodes',
    {
      module: class BenchNodesStub {},
      imports: [MessagingModule.forRoot({ service: 'nodes', nats: { servers: env.nats.url, creds: nodesCreds } })],
      controllers: [BenchPingHandler],
    },
    { servers: env.nats.url, creds: nodesCreds, logger: false },
  );
  const gateway = await createGatewayApp(
    {
      nats: { servers: env.nats.url, creds: await env.nats.creds('gateway') },
      databaseUrl: env.db.url,
      signer: env.nats.signer,
      services: ['nodes'],
      features: [testPrincipalModule(), { module: BenchGatewayModule }],
      logLevel: 'silent',
    },
    0,
    '127.0.0.1',
  );
  try {
    const url = `${gateway.url}/api/v1/bench/ping`;
    const request = {
      url,
      method: 'POST',
      headers: { authorization: 'Bearer all', 'content-type': 'application/json' },
      body: JSON.stringify({ n: 1 }),
    };
    const check = await fetch(url, { method: 'POST', headers: request.headers, body: request.body });
    if (check.status !== 201) throw new Error(`bench: POST /api/v1/bench/ping answered ${check.status}: ${await check.text()}`);

    await closedLoop({ ...request, connections: 4, duration: 2 }); // warm-up: JIT, pools, stream blocks
    const single = await closedLoop({ ...request, connections: 1, duration: 5 });
    const moderate = await constantRate({ ...request, rate: 400, duration: 6 });
    const httpOnly = await closedLoop({ ...request, url: `${gateway.url}/api/v1/bench/noop`, connections: 1, duration: 3 });

    // Decomposition, one request in flight each, from this process.
    const raw = await rawRequestReply(await env.connect('admin', 'bench-requester'), await env.connect('admin', 'bench-responder'), 2000);
    const commands = new CommandClient(await env.connect('gateway', 'bench-command-client'));
    const direct = new Latency();
    for (let i = 0; i < 100; i++) await commands.send('nodes', VERB, { n: i }, { actor: 'user:test' });
    for (let i = 0; i < 1000; i++) await direct.time(() => commands.send('nodes', VERB, { n: i }, { actor: 'user:test' }));
    // Raw publishes carry a real CloudEvent: the gateway's audit projector reads every evt.> message.
    const viaGateway = new Latency();
    const gatewayCommands = gateway.app.get(CommandClient);
    for (let i = 0; i < 1000; i++) await viaGateway.time(() => gatewayCommands.send('nodes', VERB, { n: i }, { actor: 'user:test' }));
    const js = (await env.connect('nodes', 'bench-js')).jetstream();
    const publish = new Latency();
    let payloadBytes = 0;
    for (let i = 0; i < 1100; i++) {
      const id = `raw-${i}`;
      const cloudEvent: CloudEvent = {
        specversion: '1.0',
        id: randomUUID(),
        source: 'encedeus/nodes',
        type: benchPinged.type,
        subject: `server/${id}`,
        time: new Date().toISOString(),
        datacontenttype: 'application/json',
        data: { n: i },
        actor: 'user:test',
        correlationid: randomUUID(),
        aggregateversion: 1,
      };
      const payload = codec.encode(cloudEvent);
      payloadBytes = payload.length;
      const publishOnce = () => js.publish(`evt.server.${id}`, payload, { expect: { lastSubjectSequence: 0 } });
      if (i < 100) await publishOnce();
      else await publish.time(publishOnce);
    }

    conditions(BENCH, {
      setup:
        'gateway (createGatewayApp: pino at level silent, permission guard with the test principal, zod body validation, audit projector running) and the stub nodes service (startServiceApp, one @MessagePattern appending one event with expectedRevision NO_STREAM to a new evt.server.<uuid>) in the bench process; load in a child process: autocannon 9 for the closed-loop runs (latency from its hrtime per response, µs), bench/lib/rate-child.js for the constant-rate run (latency from each due time, µs)',
      request: `POST /api/v1/bench/ping, body ${request.body} (${request.body.length} bytes), Authorization: Bearer all → 201 with { id, version, sequence }`,
      'REST, 1 connection, closed loop, 5 s': loadLine(single),
      'REST, open loop at a constant 400 req/s, 6 s': `${loadLine(moderate)} (latency from each request's due time)`,
      'gateway HTTP pipeline alone (same guard, validation and body, no NATS), 1 connection, 3 s': loadLine(httpOnly),
      'raw NATS request/reply': `core request → core subscriber on another connection of this process, ${fmt(raw.count)} sequential after 200 warm-up: ${raw.summary()}`,
      'raw JetStream publish': `js.publish of a ${payloadBytes}-byte CloudEvent with expect.lastSubjectSequence, sequential: ${publish.summary()}`,
      'CommandClient → service → append → reply (no HTTP)': `sequential, on a connection of its own: ${direct.summary()}; on the gateway's own connection (shared with its audit projector, which commits one Postgres transaction per trickling event): ${viaGateway.summary()}`,
    });
    for (const [label, r] of [
      ['constant 400 req/s, open loop', moderate],
      ['1 connection', single],
    ] as const) {
      if (r.non2xx + r.errors + r.timeouts > 0)
        throw new Error(
          `bench: REST ${label}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts (${JSON.stringify(r.statuses)})`,
        );
      record({
        bench: BENCH,
        name: `REST command round trip p50 (${label})`,
        value: r.p50,
        unit: 'ms',
        target: { op: '<=', value: 3 },
        raw: { name: 'NATS request/reply p50', value: raw.percentileMs(50), unit: 'ms' },
      });
      record({
        bench: BENCH,
        name: `REST command round trip p99 (${label})`,
        value: r.p99,
        unit: 'ms',
        target: { op: '<=', value: 15 },
        raw: { name: 'NATS request/reply p99', value: raw.percentileMs(99), unit: 'ms' },
      });
    }
    record({
      bench: BENCH,
      name: 'CommandClient → service → append → reply p50 (no HTTP)',
      value: direct.percentileMs(50),
      unit: 'ms',
      raw: { name: 'NATS request/reply p50', value: raw.percentileMs(50), unit: 'ms' },
      note: `p99 ${direct.percentileMs(99).toFixed(2)} ms; through the gateway's own CommandClient p50 ${viaGateway.percentileMs(50).toFixed(2)} ms; raw JetStream publish p50 ${publish.percentileMs(50).toFixed(2)} ms; gateway HTTP pipeline alone p50 ${httpOnly.p50.toFixed(2)} ms`,
    });
  } finally {
    // Projector.stop() never returns when it is stopped in the middle of a batch (nats.js 2.29: a
    // consume() loop left with `break` cannot be closed), so let the audit projector catch up first.
    const last = (await (await (await env.connect('admin', 'bench-info')).jetstreamManager()).streams.info(STREAMS.events)).state.last_seq;
    await gateway.app.get<Projector>(AUDIT_PROJECTOR).waitFor(last, 30_000);
    await gateway.close().catch(() => undefined);
    await service.close().catch(() => undefined);
  }
}
