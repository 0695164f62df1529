import { randomUUID } from 'node:crypto';
import { Controller, Get, Module, Query } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import request from 'supertest';
import { pack, unpack } from 'msgpackr';
import { connect, credsAuthenticator } from 'nats';
import { ConflictError, event, defineEvent, NotFoundError, type RecordedEvent } from '@encedeus/contracts';
import { CommandClient, EventStore, healthControllerFor, inboxPrefixFromCreds, MessagingModule, startServiceApp } from '@encedeus/messaging';
import { RequirePermission } from '@encedeus/security';
import { startTestEnv, type TestEnv } from '@encedeus/testing';
import { z } from 'zod';
import { createGatewayApp, type GatewayApp } from '../src/gateway.app';
import { testPrincipalModule } from './test-principal';

const pinged = defineEvent('demo.pinged', z.object({ n: z.number() }), 'test: a ping');

/** A route that needs the users service, to see 503 while that service is down. */
@Controller('probe')
class ProbeController {
  constructor(private readonly commands: CommandClient) {}
  @RequirePermission('users.read')
  @Get()
  probe(@Query('fail') fail?: string) {
    return this.commands.send('users', 'list', { fail }, { actor: 'user:test' });
  }
}
@Module({ controllers: [ProbeController] })
class ProbeModule {}

describe('gateway foundation', () => {
  let env: TestEnv;
  let gateway: GatewayApp;

  beforeAll(async () => {
    env = await startTestEnv();
    gateway = await createGatewayApp(
      {
        nats: { servers: env.nats.url, creds: await env.nats.creds('gateway') },
        databaseUrl: env.db.url,
        signer: env.nats.signer,
        services: ['users'],
        features: [testPrincipalModule(), { module: ProbeModule }],
        logLevel: 'silent',
      },
      0,
      '127.0.0.1',
    );
  });
  afterAll(async () => {
    await gateway?.close();
    await env?.stop();
  });

  const http = () => request(gateway.url);

  it('answers an unknown route with 404 in the error format', async () => {
    const res = await http().get('/api/v1/nope').set('Authorization', 'Bearer all');

    expect(res.status).toBe(404);
    expect(res.body).toEqual({
      error: expect.any(String),
      code: 'ROUTE_NOT_FOUND',
    });
  });

  it('answers invalid query fields with 422 naming them', async () => {
    const res = await http().get('/api/v1/events?limit=abc').set('Authorization', 'Bearer all');

    expect(res.status).toBe(422);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.details.fields.map((f: { path: string }) => f.path)).toContain('limit');
  });

  it('answers an unsupported body type with 415 and a malformed body with 400', async () => {
    const unsupported = await http()
      .post('/api/v1/integrations/nats-credentials')
      .set('Authorization', 'Bearer all')
      .set('Content-Type', 'text/plain')
      .send('hello');
    const malformed = await http()
      .post('/api/v1/integrations/nats-credentials')
      .set('Authorization', 'Bearer all')
      .set('Content-Type', 'application/json')
      .send('{"name":');

    expect(unsupported.status).toBe(415);
    expect(unsupported.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(malformed.status).toBe(400);
    expect(malformed.body).toEqual({
      error: expect.any(String),
      code: 'MALFORMED_BODY',
    });
  });

  it('answers 401 without credentials and 403 without the permission', async () => {
    const anonymous = await http().get('/api/v1/events');
    const powerless = await http().get('/api/v1/events').set('Authorization', 'Bearer none');

    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('UNAUTHENTICATED');
    expect(powerless.status).toBe(403);
    expect(powerless.body.code).toBe('FORBIDDEN');
  });

  it('speaks MessagePack in both directions', async () => {
    const res = await http()
      .post('/api/v1/integrations/nats-credentials')
      .set('Authorization', 'Bearer all')
      .set('Content-Type', 'application/msgpack')
      .set('Accept', 'application/msgpack')
      .responseType('blob')
      .send(pack({ name: 'mp', expiresInHours: 1 }));

    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toContain('application/msgpack');
    expect(unpack(res.body as Buffer)).toMatchObject({
      name: 'mp',
      filter: 'evt.>',
    });
  });

  it('reports a service that is down in /health and answers its routes with 503', async () => {
    const health = await http().get('/api/v1/health');
    const probe = await http().get('/api/v1/probe').set('Authorization', 'Bearer all');

    expect(health.status).toBe(503);
    expect(health.body.nats.status).toBe('up');
    expect(health.body.jetstream.status).toBe('up');
    expect(health.body.postgres.status).toBe('up');
    expect(health.body.services.users.status).toBe('down');
    expect(probe.status).toBe(503);
    expect(probe.body.code).toBe('SERVICE_UNAVAILABLE');
  });

  it('answers /health 200 once every service is up, and keeps typed errors across the NATS hop', async () => {
    @Controller()
    class FailingUsers {
      @MessagePattern('cmd.users.list')
      list(@Payload() data: { fail?: string }) {
        if (data.fail === 'missing') throw new NotFoundError('User', 'u1');
        if (data.fail === 'conflict') throw new ConflictError('Already there');
        if (data.fail === 'invalid') return z.object({ name: z.string() }).parse({});
        if (data.fail === 'crash') throw new Error('secret internals');
        return { items: [], nextCursor: null };
      }
    }
    @Module({
      imports: [
        MessagingModule.forRoot({
          service: 'users',
          nats: { servers: env.nats.url, creds: await env.nats.creds('users') },
        }),
      ],
      controllers: [healthControllerFor('users'), FailingUsers],
    })
    class UsersStub {}
    const users = await startServiceApp('users', UsersStub, {
      servers: env.nats.url,
      creds: await env.nats.creds('users'),
      logger: false,
    });
    try {
      // Each check has a 2 s budget; on a loaded CI machine a first answer may still miss it, so poll.
      let health = await http().get('/api/v1/health');
      for (let i = 0; i < 20 && health.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 250));
        health = await http().get('/api/v1/health');
      }

      expect({ status: health.status, body: health.body }).toMatchObject({ status: 200 });
      expect(health.body.status).toBe('up');
      const probe = (fail: string) => http().get(`/api/v1/probe?fail=${fail}`).set('Authorization', 'Bearer all');
      expect((await probe('none')).body).toEqual({ items: [], nextCursor: null });
      expect(await probe('missing')).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
      expect(await probe('conflict')).toMatchObject({ status: 409, body: { code: 'CONFLICT', error: 'Already there' } });
      expect(await probe('invalid')).toMatchObject({ status: 422, body: { code: 'VALIDATION_FAILED' } });
      const crash = await probe('crash');
      expect(crash.status).toBe(500);
      expect(crash.body).toEqual({ error: expect.any(String), code: 'INTERNAL' });
      expect(JSON.stringify(crash.body)).not.toContain('secret');
    } finally {
      await users.close();
    }
  });

  it('serves the event feed paginated by stream sequence and projects the audit log', async () => {
    const store = await EventStore.create(await env.connect('admin'), {
      service: 'test',
    });
    for (let i = 0; i < 5; i++) await store.append('demo' as never, `p${i}`, 0, [event(pinged, { n: i })], { actor: 'user:alice' });

    const first = await http().get('/api/v1/events?type=demo.pinged&limit=3').set('Authorization', 'Bearer all');
    const second = await http()
      .get(`/api/v1/events?type=demo.pinged&limit=3&after=${first.body.nextCursor}`)
      .set('Authorization', 'Bearer all');
    let audit = await http().get('/api/v1/audit?actor=user:alice').set('Authorization', 'Bearer all');
    for (let i = 0; i < 50 && audit.body.items.length < 5; i++) {
      await new Promise((r) => setTimeout(r, 100));
      audit = await http().get('/api/v1/audit?actor=user:alice').set('Authorization', 'Bearer all');
    }

    expect(first.body.items).toHaveLength(3);
    expect(second.body.items).toHaveLength(2);
    expect(second.body.nextCursor).toBeNull();
    const all = [...first.body.items, ...second.body.items] as RecordedEvent<{
      n: number;
    }>[];
    expect(all.map((e) => e.event.data.n)).toEqual([0, 1, 2, 3, 4]);
    expect(all[0].event).toMatchObject({
      specversion: '1.0',
      type: 'demo.pinged',
      source: 'encedeus/test',
      actor: 'user:alice',
      aggregateversion: 1,
    });
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(Array(5).fill('demo.pinged'));
  });

  it('filters the audit log by time and exports it as CSV with formula-looking cells made inert', async () => {
    const store = await EventStore.create(await env.connect('admin'), { service: 'test' });
    const actor = '=HYPERLINK("x")';
    const before = new Date(Date.now() - 1000).toISOString();
    for (let i = 0; i < 3; i++) await store.append('demo' as never, `csv${i}`, 0, [event(pinged, { n: i })], { actor });
    const q = (extra: string) => http().get(`/api/v1/audit?actor=${encodeURIComponent(actor)}${extra}`).set('Authorization', 'Bearer all');
    let page = await q('');
    for (let i = 0; i < 50 && page.body.items.length < 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
      page = await q('');
    }
    const after = new Date(Date.now() + 60_000).toISOString();
    expect((await q(`&from=${encodeURIComponent(before)}&to=${encodeURIComponent(after)}`)).body.items).toHaveLength(3);
    expect((await q(`&from=${encodeURIComponent(after)}`)).body.items).toHaveLength(0);
    expect((await q(`&to=${encodeURIComponent(before)}`)).body.items).toHaveLength(0);
    const backwards = await q(`&from=${encodeURIComponent(after)}&to=${encodeURIComponent(before)}`);
    expect(backwards.status).toBe(422);
    expect((await q('&from=yesterday')).status).toBe(422);

    const csv = await http().get(`/api/v1/audit/export?actor=${encodeURIComponent(actor)}`).set('Authorization', 'Bearer all').buffer(true).parse((res, cb) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => cb(null, text));
    });
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const lines = (csv.body as string).trim().split('\r\n');
    expect(lines[0]).toBe('sequence,time,actor,actor_name,action,subject,subject_name,correlation_id,ip,user_agent');
    expect(lines).toHaveLength(4);
    // The actor starts with "=": a spreadsheet would run it as a formula; the cell starts with a quote instead.
    expect(lines[1]).toContain(`"'=HYPERLINK(""x"")"`);
    expect((await http().get('/api/v1/audit/export')).status).toBe(401);
    expect((await http().get('/api/v1/audit/export').set('Authorization', 'Bearer none')).status).toBe(403);
  });

  it('answers an event-feed filter that matches nothing at once with an empty page', async () => {
    const store = await EventStore.create(await env.connect('admin'), { service: 'test' });
    await store.append('demo' as never, `nothing-${randomUUID()}`, 0, [event(pinged, { n: 0 })], { actor: 'user:alice' });
    const started = Date.now();

    const none = await http().get('/api/v1/events?aggregate=plugin').set('Authorization', 'Bearer all').timeout(10_000);
    const past = await http().get('/api/v1/events?after=1000000').set('Authorization', 'Bearer all').timeout(10_000);

    expect(none.status).toBe(200);
    expect(none.body.items).toEqual([]);
    expect(none.body.nextCursor).toBeNull();
    expect(past.status).toBe(200);
    expect(past.body.items).toEqual([]);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('rebuilds the audit log (to identical rows) and the gateway identity tables with npm run projections:rebuild', async () => {
    const store = await EventStore.create(await env.connect('admin'), {
      service: 'test',
    });
    for (let i = 0; i < 3; i++) await store.append('demo' as never, `r${i}`, 0, [event(pinged, { n: i })], { actor: 'user:rebuilder' });
    for (let i = 0; i < 100; i++) {
      const audit = await http().get('/api/v1/audit?actor=user:rebuilder').set('Authorization', 'Bearer all');
      if (audit.body.items.length === 3) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const { Client } = await import('pg');
    const db = new Client({ connectionString: env.db.url });
    await db.connect();
    const snapshot = () => db.query('select * from gateway.audit_log order by sequence').then((r) => r.rows);
    try {
      const before = await snapshot();
      await db.query('delete from gateway.audit_log where sequence % 2 = 0');

      const { execFileSync } = await import('node:child_process');
      const output = execFileSync(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'infra/scripts/projections-rebuild.ts', 'gateway'],
        {
          env: {
            ...process.env,
            NATS_URL: env.nats.url,
            NATS_CREDS: await env.nats.creds('admin'),
            DATABASE_URL: env.db.url,
          },
          encoding: 'utf8',
        },
      );

      expect(output).toMatch(/gateway_audit rebuilt up to sequence \d+/);
      expect(output).toMatch(/gateway_identity rebuilt up to sequence \d+/);
      expect(before.length).toBeGreaterThan(0);
      expect(await snapshot()).toEqual(before);
    } finally {
      await db.end();
    }
  });

  it('serves OpenAPI and Prometheus metrics', async () => {
    const openapi = await http().get('/api/v1/openapi.json');
    const metrics = await http().get('/metrics').set('Authorization', 'Bearer all');

    expect(openapi.status).toBe(200);
    expect(openapi.body.openapi).toMatch(/^3\./);
    expect(Object.keys(openapi.body.paths)).toContain('/api/v1/health');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('encedeus_http_request_duration_seconds');
  });

  it('issues integrator credentials that read evt.> and publish nothing', async () => {
    const res = await http().post('/api/v1/integrations/nats-credentials').set('Authorization', 'Bearer all').send({ name: 'reader' });
    expect(res.status).toBe(201);
    const nc = await connect({
      servers: env.nats.url,
      inboxPrefix: inboxPrefixFromCreds(res.body.creds),
      authenticator: credsAuthenticator(new TextEncoder().encode(res.body.creds)),
    });
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.data));
    })();
    try {
      const sub = nc.subscribe('evt.>', { max: 1 });
      await nc.flush();
      const store = await EventStore.create(await env.connect('admin'), {
        service: 'test',
      });
      await store.append('demo' as never, 'integ', 0, [event(pinged, { n: 42 })], { actor: 'system' });
      for await (const m of sub)
        expect(JSON.parse(new TextDecoder().decode(m.data)).data).toEqual({
          n: 42,
        });

      nc.publish('evt.demo.forged', new TextEncoder().encode('{}'));
      nc.publish('cmd.users.create', new TextEncoder().encode('{}'));
      await nc.flush();
      await new Promise((r) => setTimeout(r, 200));
      expect(errors.filter((e) => e === 'PERMISSIONS_VIOLATION')).toHaveLength(2);

      // The gateway created the durable; the integrator only binds to it.
      const jsm = await nc.jetstreamManager({ checkAPI: false });
      const own = await nc.jetstream().consumers.get('EVENTS', res.body.consumerNames[0]);
      const first = await own.next({ expires: 2000 });
      expect(first?.subject).toMatch(/^evt\./);
      first?.ack();
      // Another component's durable (the gateway's audit projection) can be neither read nor deleted.
      await expect(jsm.consumers.delete('EVENTS', 'gateway_audit')).rejects.toThrow(/Permissions Violation/);
      const foreign = await nc
        .jetstream()
        .consumers.get('EVENTS', 'gateway_audit')
        .catch((e) => e);
      expect(String(foreign)).toMatch(/Permissions Violation/);
    } finally {
      await nc.close();
    }
  });
});
