import { randomUUID } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { CommandClient } from '@encedeus/messaging';
import { NODE_ECHO_TEMPLATE } from '../../nodes/test/fleet-harness';
import { startStack, type Stack } from './stack-harness';

/** Issue 8 item 7: one bad string must never be stored, and never wedge a service if it is. */
describe('poison input', () => {
  let stack: Stack;
  let admin: NatsConnection;
  let auth: string;

  beforeAll(async () => {
    stack = await startStack();
    admin = await stack.env.connect('admin');
    auth = `Bearer ${await stack.adminToken()}`;
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  const lastSequence = async () => (await (await admin.jetstreamManager()).streams.info('EVENTS')).state.last_seq;

  it('refuses a server name with a NUL byte over REST with 422 and stores nothing', async () => {
    const user = { name: `poisoner${Date.now()}`, email: `poisoner${Date.now()}@stack.test`, password: 'a default user password' };
    expect((await stack.http().post('/api/v1/users').set('Authorization', auth).send(user)).status).toBe(201);
    const login = await stack.http().post('/api/v1/auth/login').send({ email: user.email, password: user.password });
    const before = await lastSequence();

    const res = await stack.http().post('/api/v1/servers').set('Authorization', `Bearer ${login.body.accessToken}`)
      .send({ name: 'poison\u0000srv', template_id: NODE_ECHO_TEMPLATE, limits: { memory_mb: 64, cpu_percent: 10, disk_mb: 64 } });

    expect({ status: res.status, code: res.body.code }).toEqual({ status: 422, code: 'VALIDATION_FAILED' });
    expect(res.body.details.fields).toContainEqual(expect.objectContaining({ path: 'name' }));
    expect(await lastSequence()).toBe(before);
  });

  it('refuses NUL bytes and lone surrogates in commands sent straight over NATS, and stores nothing', async () => {
    const commands = new CommandClient(await stack.env.connect('gateway'));
    const meta = { actor: 'service:gateway' };
    const before = await lastSequence();
    const attempts: [service: 'nodes' | 'users', verb: string, body: unknown][] = [
      ['nodes', 'create_server', { name: 'poison\u0000srv', template_id: NODE_ECHO_TEMPLATE, owner_id: randomUUID() }],
      ['nodes', 'create_node', { name: 'poison\u0000node', memory_mb: 1024, cpu_percent: 100, storage_size: '1G' }],
      ['users', 'create', { name: 'poison\u0000user', email: 'nul@stack.test', password: 'a password long enough' }],
      ['users', 'create', { name: 'lone\ud800surrogate', email: 'lone@stack.test', password: 'a password long enough' }],
      ['users', 'role_create', { name: 'poison\u0000role', permissions: [] }],
    ];

    const codes = await Promise.all(attempts.map(([service, verb, body]) =>
      commands.send(service, verb, body, meta).then(() => 'ACCEPTED', (e: { code?: string }) => e.code)));

    expect(codes).toEqual(attempts.map(() => 'VALIDATION_FAILED'));
    expect(await lastSequence()).toBe(before);
  });

  it('answers 422 for every id in a path that is not a UUID', async () => {
    const routes: [method: 'get' | 'patch' | 'delete' | 'post', path: string][] = [
      ['get', '/api/v1/servers/not-a-uuid'],
      ['patch', '/api/v1/servers/1'],
      ['delete', '/api/v1/servers/%00'],
      ['post', '/api/v1/servers/abc/power'],
      ['get', '/api/v1/nodes/not-a-uuid'],
      ['get', '/api/v1/nodes/not-a-uuid/metrics'],
      ['get', '/api/v1/templates/not-a-uuid'],
      ['get', '/api/v1/jobs/not-a-uuid'],
      ['get', '/api/v1/users/not-a-uuid'],
      ['delete', '/api/v1/users/not-a-uuid'],
      ['get', '/api/v1/roles/not-a-uuid'],
      ['get', '/api/v1/service-accounts/not-a-uuid'],
      ['delete', '/api/v1/api-keys/not-a-uuid'],
    ];

    const answers = await Promise.all(routes.map(async ([method, path]) => {
      const res = await stack.http()[method](path).set('Authorization', auth).send(method === 'get' || method === 'delete' ? undefined : { action: 'start' });
      return `${method} ${path} → ${res.status} ${res.body.code}`;
    }));

    expect(answers).toEqual(routes.map(([method, path]) => `${method} ${path} → 422 VALIDATION_FAILED`));
  });

  it('parks a poison event found in EVENTS, keeps the fleet writable, and reports it in /health and /metrics', async () => {
    const id = randomUUID();
    // A foreign publisher (or an older release) put an event no schema accepts into the stream.
    await admin.jetstream().publish(`evt.server.${id}`, new TextEncoder().encode(JSON.stringify({
      specversion: '1.0', id: randomUUID(), source: 'encedeus/nodes', type: 'server.created', subject: `server/${id}`, time: new Date().toISOString(),
      datacontenttype: 'application/json', actor: 'system', aggregateversion: 1, data: { id, name: 'poison\u0000srv' },
    })));

    const node = await stack.http().post('/api/v1/nodes').set('Authorization', auth).send({ name: 'after-poison', memory_mb: 1024, cpu_percent: 100, storage_size: '1G' });
    expect(node.status).toBe(201);
    const read = await stack.http().get(`/api/v1/nodes/${node.body.id}`).set('Authorization', auth);
    const health = await stack.waitFor('health reports the parked event', async () => {
      const res = await stack.http().get('/api/v1/health');
      return res.body.services?.nodes?.projections?.nodes_fleet_read_model?.deadLetters === 1 ? res : undefined;
    });
    const metrics = await stack.http().get('/metrics').set('Authorization', auth);

    expect(read.status).toBe(200);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'degraded', services: { nodes: { status: 'degraded' } } });
    expect(health.body.deadLetters).toBeGreaterThanOrEqual(1);
    expect(metrics.text).toMatch(/^encedeus_projection_dead_letters_total\{projection="nodes_fleet_read_model"\} 1$/m);
  });
});
