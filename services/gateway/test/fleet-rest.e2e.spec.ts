import { connect, credsAuthenticator } from 'nats';
import { io } from 'socket.io-client';
import { inboxPrefixFromCreds } from '@encedeus/messaging';
import { startStack, type Stack } from './stack-harness';

const NODE_ECHO_TEMPLATE = '00000000-0000-4000-8000-000000000001';

/** Issue #4's whole path, through REST only, with a real agent process. */
describe('fleet through REST', () => {
  let stack: Stack;
  let admin: string;
  /** The node of the first test, online with a real agent. */
  let onlineNodeId: string;
  const auth = () => `Bearer ${admin}`;

  beforeAll(async () => {
    stack = await startStack();
    admin = await stack.adminToken();
  }, 90_000);
  afterAll(() => stack?.stop());

  it('creates a node, enrolls an agent, runs a server through its whole life, and records every step with its actor', async () => {
    const http = stack.http;
    const node = await http().post('/api/v1/nodes').set('Authorization', auth()).send({ name: 'rest-node', memory_mb: 4096, cpu_percent: 400, storage_size: '10G', tags: ['rest'] });
    expect(node.status).toBe(201);
    expect(node.body.enrollment.token).toEqual(expect.any(String));
    stack.startAgent(node.body.enrollment.token);
    await stack.waitFor('node online', async () => (await http().get(`/api/v1/nodes/${node.body.id}`).set('Authorization', auth())).body.state === 'online', 60_000);
    onlineNodeId = node.body.id;

    const templates = await http().get('/api/v1/templates').set('Authorization', auth());
    expect(templates.body.items.map((t: { id: string }) => t.id)).toContain(NODE_ECHO_TEMPLATE);
    const badVariable = await http().post('/api/v1/servers').set('Authorization', auth()).send({ name: 'bad', template_id: NODE_ECHO_TEMPLATE, node_id: node.body.id, variables: { GREETING: 'x'.repeat(500) } });
    expect(badVariable.status).toBe(422);
    expect(JSON.stringify(badVariable.body)).toContain('GREETING');
    const tooBig = await http().post('/api/v1/servers').set('Authorization', auth()).send({ name: 'huge', template_id: NODE_ECHO_TEMPLATE, node_id: node.body.id, limits: { memory_mb: 999_999, cpu_percent: 50, disk_mb: 100 } });
    expect(tooBig.status).toBe(409);
    expect(tooBig.body.details).toMatchObject({ requested_memory_mb: 999_999 });

    const server = await http().post('/api/v1/servers').set('Authorization', auth()).send({ name: 'echo', template_id: NODE_ECHO_TEMPLATE, node_id: node.body.id, limits: { memory_mb: 256, cpu_percent: 50, disk_mb: 200 } });
    expect(server.status).toBe(201);
    const id = server.body.id as string;
    const state = async () => (await http().get(`/api/v1/servers/${id}`).set('Authorization', auth())).body.state as string;
    await stack.waitFor('installed', async () => (await state()) === 'offline', 60_000);

    const nc = await connect({ servers: stack.env.nats.url, inboxPrefix: inboxPrefixFromCreds(await stack.env.nats.creds('gateway')), authenticator: credsAuthenticator(new TextEncoder().encode(await stack.env.nats.creds('gateway'))) });
    const lines: string[] = [];
    nc.subscribe(`console.${id}.out`, { callback: (_e, m) => lines.push(new TextDecoder().decode(m.data)) });
    await nc.flush();

    expect((await http().post(`/api/v1/servers/${id}/power`).set('Authorization', auth()).send({ action: 'start' })).status).toBeLessThan(300);
    await stack.waitFor('running', async () => (await state()) === 'running', 30_000);
    await stack.waitFor('console output', async () => lines.length > 0, 10_000);
    expect((await http().post(`/api/v1/servers/${id}/command`).set('Authorization', auth()).send({ command: 'hello-from-rest' })).status).toBeLessThan(300);
    await stack.waitFor('echo', async () => lines.some((l) => l.includes('hello-from-rest')), 10_000);

    expect((await http().post(`/api/v1/servers/${id}/power`).set('Authorization', auth()).send({ action: 'stop' })).status).toBeLessThan(300);
    await stack.waitFor('offline', async () => (await state()) === 'offline', 30_000);
    expect((await http().post(`/api/v1/servers/${id}/power`).set('Authorization', auth()).send({ action: 'restart' })).status).toBeLessThan(300);
    await stack.waitFor('running again', async () => (await state()) === 'running', 30_000);
    expect((await http().post(`/api/v1/servers/${id}/power`).set('Authorization', auth()).send({ action: 'kill' })).status).toBeLessThan(300);
    await stack.waitFor('killed', async () => ['offline', 'crashed'].includes(await state()), 30_000);
    const invalidAction = await http().post(`/api/v1/servers/${id}/power`).set('Authorization', auth()).send({ action: 'explode' });
    expect(invalidAction.status).toBe(422);

    expect((await http().delete(`/api/v1/servers/${id}`).set('Authorization', auth())).status).toBeLessThan(300);
    await stack.waitFor('deleted', async () => (await http().get(`/api/v1/servers/${id}`).set('Authorization', auth())).status === 404, 30_000);
    await nc.close();

    const events = await http().get(`/api/v1/events?aggregate=server&aggregate_id=${id}&limit=200`).set('Authorization', auth());
    const types = events.body.items.map((e: { event: { type: string } }) => e.event.type);
    expect(types).toEqual(expect.arrayContaining(['server.created', 'server.start_requested', 'server.running', 'server.stop_requested', 'server.stopped', 'server.killed', 'server.deleted']));
    const me = (await http().get('/api/v1/auth/me').set('Authorization', auth())).body;
    const requested = events.body.items.filter((e: { event: { type: string } }) => /requested|created|deleted|killed/.test(e.event.type) && e.event.type !== 'server.killed');
    for (const e of requested) expect(e.event.actor).toBe(`user:${me.user.id}`);

    const malformedId = await http().get('/api/v1/servers/not-a-uuid').set('Authorization', auth());
    expect(malformedId.status).toBe(422);
    expect(malformedId.body.code).toBe('VALIDATION_FAILED');

    const metrics = await http().get(`/api/v1/nodes/${node.body.id}/metrics`).set('Authorization', auth());
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatchObject({ node_id: node.body.id, memory_usage: expect.any(Number), memory_limit: expect.any(Number), cpu_percent: expect.any(Number) });
  }, 240_000);

  it('carries ETag on every fleet aggregate and answers a stale If-Match with 412 and the current version, recording nothing', async () => {
    const http = stack.http;
    const node = await http().post('/api/v1/nodes').set('Authorization', auth()).send({ name: 'etag-node', memory_mb: 2048, cpu_percent: 200, storage_size: '5G' });
    const template = await http().get(`/api/v1/templates/${NODE_ECHO_TEMPLATE}`).set('Authorization', auth());
    // A node no agent ever enrolled on is offline: no server is placed there (409, issue 14).
    const nowhere = await http().post('/api/v1/servers').set('Authorization', auth()).send({ name: 'etag', template_id: NODE_ECHO_TEMPLATE, node_id: node.body.id, limits: { memory_mb: 128 } });
    expect(nowhere.status).toBe(409);
    expect(nowhere.body).toMatchObject({ code: 'CONFLICT' });
    const server = await http().post('/api/v1/servers').set('Authorization', auth()).send({ name: 'etag', template_id: NODE_ECHO_TEMPLATE, node_id: onlineNodeId, limits: { memory_mb: 128 } });
    const fetched = await http().get(`/api/v1/servers/${server.body.id}`).set('Authorization', auth());

    expect(node.headers.etag).toBe(`"${node.body.version}"`);
    expect(template.headers.etag).toBe(`"${template.body.version}"`);
    expect(server.headers.etag).toBe(`"${server.body.version}"`);
    expect(fetched.headers.etag).toBe(`"${fetched.body.version}"`);

    const renamed = await http().patch(`/api/v1/servers/${server.body.id}`).set('Authorization', auth()).set('If-Match', fetched.headers.etag).send({ name: 'etag-renamed' });
    const stale = await http().patch(`/api/v1/servers/${server.body.id}`).set('Authorization', auth()).set('If-Match', fetched.headers.etag).send({ name: 'lost-update' });
    const staleNode = await http().patch(`/api/v1/nodes/${node.body.id}`).set('Authorization', auth()).set('If-Match', '"999"').send({ name: 'lost' });
    const after = await http().get(`/api/v1/servers/${server.body.id}`).set('Authorization', auth());

    expect(renamed.status).toBe(200);
    expect(renamed.headers.etag).toBe(`"${renamed.body.version}"`);
    expect(stale.status).toBe(412);
    expect(stale.body).toMatchObject({ code: 'PRECONDITION_FAILED', details: { currentVersion: renamed.body.version } });
    expect(staleNode.status).toBe(412);
    expect(after.body).toMatchObject({ name: 'etag-renamed', version: renamed.body.version });
  }, 60_000);

  it('answers a node usage history averaged per bucket (metrics service), and validates the range', async () => {
    const http = stack.http;
    const nodes = await http().get('/api/v1/nodes').set('Authorization', auth());
    const nodeId = nodes.body.items.find((n: { name: string }) => n.name === 'rest-node').id as string;
    const history = (range: string) => http().get(`/api/v1/nodes/${nodeId}/metrics/history?range=${range}`).set('Authorization', auth());
    // The agent samples every second: wait for a few samples to be in the stream.
    const hour = await stack.waitFor('usage history', async () => {
      const res = await history('1h');
      return res.status === 200 && res.body.items.length >= 1 ? res : undefined;
    }, 15_000);

    expect(hour.body).toMatchObject({ node_id: nodeId, range: '1h', bucket_s: 15 });
    expect(hour.body.items[0]).toMatchObject({ node_id: nodeId, memory_usage: expect.any(Number), memory_limit: expect.any(Number), cpu_percent: expect.any(Number), at: expect.any(String) });
    const ats = hour.body.items.map((u: { at: string }) => Date.parse(u.at));
    expect(ats).toEqual([...ats].sort((a, b) => a - b));
    expect(Date.parse(hour.body.items[0].at)).toBeGreaterThanOrEqual(Date.parse(hour.body.from));
    const week = await history('7d');
    expect(week.status).toBe(200);
    expect(week.body.items.length).toBeGreaterThanOrEqual(1);
    expect(week.body.items.length).toBeLessThanOrEqual(240);
    expect((await http().get(`/api/v1/nodes/${nodeId}/metrics/history`).set('Authorization', auth())).body.range).toBe('1h');

    const badRange = await history('2y');
    expect(badRange.status).toBe(422);
    expect(JSON.stringify(badRange.body)).toContain('range');
    const unknown = await http().get('/api/v1/nodes/6f1c2b1e-0000-4000-8000-000000000000/metrics/history').set('Authorization', auth());
    expect(unknown.status).toBe(404);
  }, 60_000);

  it('streams a job output line by line over socket.io before its one result', async () => {
    const socket = io(stack.gateway.url, { path: '/socket.io', transports: ['websocket'], auth: { token: admin } });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const seen: { kind: string; at: number; line?: string }[] = [];
    socket.on('line', (m: { id: string; line: string }) => seen.push({ kind: 'line', at: Date.now(), line: m.line }));
    const result = new Promise<{ success: boolean; data: { stdout: string } }>((resolve) =>
      socket.on('result', (m) => {
        seen.push({ kind: 'result', at: Date.now() });
        resolve(m);
      }),
    );

    socket.emit('call', { id: 'job-1', call: 'jobs.run', params: { runtime: 'python3', code: "import time\nprint('one', flush=True)\ntime.sleep(1.5)\nprint('two', flush=True)", timeout_ms: 10000, memory_mb: 128 } });
    const outcome = await result;
    socket.close();

    expect(outcome.success).toBe(true);
    expect(outcome.data.stdout).toBe('one\ntwo\n');
    expect(seen.map((s) => s.line ?? s.kind)).toEqual(['one', 'two', 'result']);
    expect(seen.filter((s) => s.kind === 'result')).toHaveLength(1);
    // 'one' was pushed while the job still ran (it sleeps 1.5 s before 'two').
    expect(seen[2].at - seen[0].at).toBeGreaterThan(1000);
  }, 60_000);

  it('runs a job through REST', async () => {
    const res = await stack.http().post('/api/v1/jobs').set('Authorization', auth()).send({ runtime: 'python3', code: "print('hello from nexus')", timeout_ms: 5000, memory_mb: 128 });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ stdout: 'hello from nexus\n', exit_code: 0, status: 'succeeded' });
  }, 60_000);

  it('lifts a drain with PATCH { draining: false }, so jobs and servers are placed on the node again; without nodes.manage it is 403 and the node stays drained', async () => {
    const http = stack.http;
    const role = await http().post('/api/v1/roles').set('Authorization', auth()).send({ name: 'node-watcher', permissions: ['nodes.read', 'servers.create', 'jobs.run'] });
    expect(role.status).toBe(201);
    const user = await http().post('/api/v1/users').set('Authorization', auth()).send({ name: 'watcher', email: 'watcher@rest.test', password: 'watcher password 1', role_name: 'node-watcher' });
    expect(user.status).toBe(201);
    const watcher = (await http().post('/api/v1/auth/login').send({ email: 'watcher@rest.test', password: 'watcher password 1' })).body.accessToken as string;
    const node = () => http().get(`/api/v1/nodes/${onlineNodeId}`).set('Authorization', auth());
    // No node_id: placement picks among online, undrained nodes, and rest-node is the only online one here.
    const job = () => http().post('/api/v1/jobs').set('Authorization', auth()).send({ runtime: 'python3', code: "print('placed')", timeout_ms: 5000, memory_mb: 128 });
    const server = (name: string) => http().post('/api/v1/servers').set('Authorization', auth()).send({ name, template_id: NODE_ECHO_TEMPLATE, limits: { memory_mb: 128, cpu_percent: 10, disk_mb: 100 } });

    const drained = await http().post(`/api/v1/nodes/${onlineNodeId}/drain`).set('Authorization', auth());
    expect(drained.status).toBe(200);
    expect(drained.body).toMatchObject({ id: onlineNodeId, draining: true });
    const noJobNode = await job();
    const noServerNode = await server('while-drained');
    expect(noJobNode.status).toBe(503);
    expect(noJobNode.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(noServerNode.status).toBe(503);
    expect(noServerNode.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });

    const refused = await http().patch(`/api/v1/nodes/${onlineNodeId}`).set('Authorization', `Bearer ${watcher}`).send({ draining: false });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'FORBIDDEN' });
    expect(JSON.stringify(refused.body)).toContain('nodes.manage');
    expect((await node()).body.draining).toBe(true);
    expect((await job()).status).toBe(503);

    const undrained = await http().patch(`/api/v1/nodes/${onlineNodeId}`).set('Authorization', auth()).send({ draining: false });
    expect(undrained.status).toBe(200);
    expect(undrained.body).toMatchObject({ id: onlineNodeId, draining: false });
    expect((await node()).body.draining).toBe(false);
    const placedJob = await job();
    expect(placedJob.status).toBe(200);
    expect(placedJob.body).toMatchObject({ node_id: onlineNodeId, stdout: 'placed\n', status: 'succeeded' });
    const placedServer = await server('after-undrain');
    expect(placedServer.status).toBe(201);
    expect(placedServer.body.node_id).toBe(onlineNodeId);

    const events = await http().get(`/api/v1/events?aggregate=node&aggregate_id=${onlineNodeId}&limit=200`).set('Authorization', auth());
    expect(events.body.items.map((e: { event: { type: string } }) => e.event.type)).toEqual(expect.arrayContaining(['node.drained', 'node.updated']));
    const id = placedServer.body.id as string;
    await stack.waitFor('installed', async () => (await http().get(`/api/v1/servers/${id}`).set('Authorization', auth())).body.state === 'offline', 60_000);
    expect((await http().delete(`/api/v1/servers/${id}`).set('Authorization', auth())).status).toBeLessThan(300);
  }, 120_000);
});
