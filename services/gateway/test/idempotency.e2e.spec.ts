import { Client } from 'pg';
import { startStack, type Stack } from './stack-harness';

const NODE_ECHO_TEMPLATE = '00000000-0000-4000-8000-000000000001';

/** `Idempotency-Key` covers a whole command: every event it appends, stored once; retries get the first reply. */
describe('Idempotency-Key on REST commands', () => {
  let stack: Stack;
  let admin: string;
  let nodeId: string;
  const auth = () => `Bearer ${admin}`;

  beforeAll(async () => {
    stack = await startStack();
    admin = await stack.adminToken();
    const node = await stack.http().post('/api/v1/nodes').set('Authorization', auth()).send({ name: 'idem-node', memory_mb: 4096, cpu_percent: 400, storage_size: '10G' });
    nodeId = node.body.id;
    stack.startAgent(node.body.enrollment.token);
    await stack.waitFor('node online', async () => (await stack.http().get(`/api/v1/nodes/${nodeId}`).set('Authorization', auth())).body.state === 'online', 60_000);
  }, 120_000);
  afterAll(() => stack?.stop());

  it('runs a job sent three times at once with one key exactly once, and every answer is its result', async () => {
    const body = { runtime: 'python3', code: "print('once')", timeout_ms: 10_000, memory_mb: 128 };
    const send = () => stack.http().post('/api/v1/jobs').set('Authorization', auth()).set('Idempotency-Key', 'job-key-1').send(body);

    const answers = await Promise.all([send(), send(), send()]);

    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers[0].body).toMatchObject({ status: 'succeeded', stdout: 'once\n' });
    expect(answers[1].body).toEqual(answers[0].body);
    expect(answers[2].body).toEqual(answers[0].body);
    expect(answers.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(2);
    const jobs = await stack.http().get('/api/v1/events?aggregate=job&limit=200').set('Authorization', auth());
    const created = jobs.body.items.filter((e: { event: { type: string } }) => e.event.type === 'job.created' || e.event.type === 'job.queued');
    expect(new Set(created.map((e: { event: { subject: string } }) => e.event.subject)).size).toBe(1);
  }, 60_000);

  it('creates one server for three concurrent creates with one key, and it installs', async () => {
    const body = { name: 'idem-server', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, limits: { memory_mb: 128, cpu_percent: 50, disk_mb: 100 } };
    const send = () => stack.http().post('/api/v1/servers').set('Authorization', auth()).set('Idempotency-Key', 'server-key-1').send(body);

    const answers = await Promise.all([send(), send(), send()]);

    expect(answers.map((a) => a.status)).toEqual([201, 201, 201]);
    const ids = new Set(answers.map((a) => a.body.id));
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    const list = await stack.http().get('/api/v1/servers?limit=100').set('Authorization', auth());
    expect(list.body.items.filter((s: { name: string }) => s.name === 'idem-server')).toHaveLength(1);
    await stack.waitFor('installed', async () => (await stack.http().get(`/api/v1/servers/${id}`).set('Authorization', auth())).body.state === 'offline', 60_000);
  }, 90_000);

  it('refuses the same key with another body with 422 IDEMPOTENCY_KEY_REUSED and changes nothing', async () => {
    const first = await stack.http().post('/api/v1/roles').set('Authorization', auth()).set('Idempotency-Key', 'role-key').send({ name: 'idem-role-a', permissions: ['nodes.read'] });
    expect(first.status).toBe(201);

    const reused = await stack.http().post('/api/v1/roles').set('Authorization', auth()).set('Idempotency-Key', 'role-key').send({ name: 'idem-role-b', permissions: ['nodes.read'] });

    expect(reused.status).toBe(422);
    expect(reused.body).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', error: expect.any(String) });
    const roles = await stack.http().get('/api/v1/roles?limit=100').set('Authorization', auth());
    expect(roles.body.items.map((r: { name: string }) => r.name)).not.toContain('idem-role-b');
  }, 30_000);

  it('keeps the claim of a command that runs longer than the takeover time, so a retry waits for it instead of running it again', async () => {
    const body = { runtime: 'bash', code: 'sleep 24; echo long-once', timeout_ms: 60_000, memory_mb: 64 };
    const send = () => stack.http().post('/api/v1/jobs').set('Authorization', auth()).set('Idempotency-Key', 'long-job').send(body);

    // supertest sends only when awaited: then() starts the first request now.
    const first = send().then((res) => res);
    await new Promise((r) => setTimeout(r, 22_000));
    const retry = await send();

    expect((await first).body).toMatchObject({ status: 'succeeded', stdout: 'long-once\n' });
    expect(retry.status).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body.id).toBe((await first).body.id);
  }, 90_000);

  it('answers three concurrent API-key and node creations with one key each with three identical replies, one effect, and never stores the secret', async () => {
    const send = () => stack.http().post('/api/v1/api-keys').set('Authorization', auth()).set('Idempotency-Key', 'secret-key').send({ name: 'idem-key', permissions: ['nodes.read'] });
    const sendNode = () => stack.http().post('/api/v1/nodes').set('Authorization', auth()).set('Idempotency-Key', 'secret-node').send({ name: 'idem-secret-node', memory_mb: 1024, cpu_percent: 100, storage_size: '5G' });

    const replies = await Promise.all([send(), send(), send()]);
    const nodes = await Promise.all([sendNode(), sendNode(), sendNode()]);

    expect(replies.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(replies[0].body.key).toEqual(expect.any(String));
    expect(replies.map((r) => r.body)).toEqual([replies[0].body, replies[0].body, replies[0].body]);
    expect(nodes.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(nodes.map((r) => r.body.enrollment.token)).toEqual(Array(3).fill(nodes[0].body.enrollment.token));
    const nodeList = await stack.http().get('/api/v1/nodes?per_page=100').set('Authorization', auth());
    expect(nodeList.body.items.filter((n: { name: string }) => n.name === 'idem-secret-node')).toHaveLength(1);
    const db = new Client({ connectionString: stack.env.db.url });
    await db.connect();
    const rows = await db.query(`select body::text as body from gateway.idempotency_keys where key = 'secret-key'`);
    await db.end();
    expect(rows.rows).toEqual([{ body: 'null' }]);
    const keys = await stack.http().get('/api/v1/api-keys?limit=100').set('Authorization', auth());
    expect(keys.body.items.filter((k: { name: string }) => k.name === 'idem-key')).toHaveLength(1);
  }, 30_000);

  it('answers 400 for a key that is not 1 to 200 visible ASCII characters', async () => {
    const res = await stack.http().post('/api/v1/roles').set('Authorization', auth()).set('Idempotency-Key', 'x'.repeat(201)).send({ name: 'idem-role-c', permissions: [] });

    expect(res.status).toBe(400);
    expect(res.body.code).toBe('BAD_REQUEST');
  }, 30_000);
});
