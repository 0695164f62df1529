import { connect, credsAuthenticator, JSONCodec, type NatsConnection } from 'nats';
import { agentPermissions, inboxPrefixFromCreds, mintUserCreds } from '@encedeus/messaging';
import { startStack, type Stack } from './stack-harness';

const NODE_ECHO_TEMPLATE = '00000000-0000-4000-8000-000000000001';
const LIMITS = { memory_mb: 256, cpu_percent: 50, disk_mb: 200 };
const json = JSONCodec<unknown>();

/** Issue 8 follow-up, fleet and agent findings of the security review — on the real stack with a real agent. */
describe('fleet review (security)', () => {
  let stack: Stack;
  let admin: string;
  let nodeId: string;
  let alice: { id: string; token: string };
  let aliceServer: string;
  const clean: (() => Promise<unknown> | unknown)[] = [];
  const as = (token: string) => `Bearer ${token}`;

  /** A signed-in user with the default `user` role, or with a role holding exactly `permissions`. */
  async function userWith(name: string, permissions?: string[]): Promise<{ id: string; token: string }> {
    const http = stack.http;
    let role: { role_id?: string } = {};
    if (permissions) {
      const created = await http().post('/api/v1/roles').set('Authorization', as(admin)).send({ name: `${name}-role`, permissions });
      expect(created.status).toBe(201);
      role = { role_id: created.body.id };
    }
    const user = await http().post('/api/v1/users').set('Authorization', as(admin)).send({ name, email: `${name}@review.test`, password: `${name} password 1`, ...role });
    expect(user.status).toBe(201);
    const login = await http().post('/api/v1/auth/login').send({ email: `${name}@review.test`, password: `${name} password 1` });
    expect(login.status).toBe(200);
    return { id: user.body.id, token: login.body.accessToken };
  }

  async function apiKey(owner: string, permissions: string[]): Promise<string> {
    const key = await stack.http().post('/api/v1/api-keys').set('Authorization', as(owner)).send({ name: `key-${permissions.join('-')}`, permissions });
    expect(key.status).toBe(201);
    return key.body.key;
  }

  const serverState = async (id: string) => (await stack.http().get(`/api/v1/servers/${id}`).set('Authorization', as(admin))).body.state as string;

  beforeAll(async () => {
    stack = await startStack();
    admin = await stack.adminToken();
    const http = stack.http;
    const node = await http().post('/api/v1/nodes').set('Authorization', as(admin)).send({ name: 'review-node', memory_mb: 4096, cpu_percent: 400, storage_size: '10G' });
    nodeId = node.body.id;
    stack.startAgent(node.body.enrollment.token);
    await stack.waitFor('node online', async () => (await http().get(`/api/v1/nodes/${nodeId}`).set('Authorization', as(admin))).body.state === 'online', 60_000);
    alice = await userWith('alice');
    const server = await http().post('/api/v1/servers').set('Authorization', as(alice.token)).send({ name: 'alice-echo', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, limits: LIMITS });
    expect(server.status).toBe(201);
    aliceServer = server.body.id;
    await stack.waitFor('installed', async () => (await serverState(aliceServer)) === 'offline', 60_000);
  }, 150_000);

  afterAll(async () => {
    for (const c of clean.reverse()) await c();
    await stack?.stop();
  });

  it('refuses an API key holding only nodes.read renaming, re-limiting or deleting its owner\'s server (F2)', async () => {
    const http = stack.http;
    const readOnly = await apiKey(alice.token, ['nodes.read']);
    const mayCreate = await apiKey(alice.token, ['servers.create']);

    const patch = await http().patch(`/api/v1/servers/${aliceServer}`).set('Authorization', as(readOnly)).send({ name: 'renamed-by-key', limits: { memory_mb: 16 } });
    const remove = await http().delete(`/api/v1/servers/${aliceServer}`).set('Authorization', as(readOnly));
    const after = await http().get(`/api/v1/servers/${aliceServer}`).set('Authorization', as(alice.token));
    const byCreateKey = await http().patch(`/api/v1/servers/${aliceServer}`).set('Authorization', as(mayCreate)).send({ name: 'alice-echo-2' });

    expect(patch.status).toBe(403);
    expect(patch.body).toMatchObject({ code: 'FORBIDDEN', details: { missing: ['servers.create'] } });
    expect(remove.status).toBe(403);
    expect(after.body).toMatchObject({ name: 'alice-echo', limits: { memory_mb: 256 } });
    expect(byCreateKey.status).toBe(200);
    expect(byCreateKey.body.name).toBe('alice-echo-2');
  });

  it('refuses POST /servers with an owner_id that is not a UUID (F14d)', async () => {
    const res = await stack.http().post('/api/v1/servers').set('Authorization', as(admin))
      .send({ name: 'nobodys', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, owner_id: 'nobody', limits: LIMITS });

    expect(res.status).toBe(422);
    expect(res.body.code).toBe('VALIDATION_FAILED');
  });

  it('gives a job run with an API key to the key\'s owner, who and whose key can read it (F13)', async () => {
    const http = stack.http;
    const bob = await userWith('bob');
    const key = await apiKey(bob.token, ['jobs.run']);

    const job = await http().post('/api/v1/jobs').set('Authorization', as(key)).send({ runtime: 'bash', code: 'echo hi' });
    const byKey = await http().get(`/api/v1/jobs/${job.body.id}`).set('Authorization', as(key));
    const byOwner = await http().get(`/api/v1/jobs/${job.body.id}`).set('Authorization', as(bob.token));

    expect(job.status).toBe(200);
    expect(job.body.owner_id).toBe(bob.id);
    expect(byKey.status).toBe(200);
    expect(byOwner.status).toBe(200);
  }, 60_000);

  it('finishes a job whose output holds NUL bytes, with each NUL shown as U+FFFD (the agent\'s result is not trusted to be storable text)', async () => {
    const job = await stack.http().post('/api/v1/jobs').set('Authorization', as(alice.token)).send({ runtime: 'bash', code: "printf 'a\\0b'; printf 'c\\0' >&2" });

    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ status: 'succeeded', stdout: 'a\ufffdb', stderr: 'c\ufffd' });
  }, 60_000);

  it('lets only the job\'s owner or nodes.manage cancel a job: 403 to jobs.read, 404 to those who cannot see it (F10)', async () => {
    const http = stack.http;
    const carol = await userWith('carol');
    const auditor = await userWith('auditor', ['jobs.read', 'jobs.run']);
    const stranger = await userWith('stranger', ['jobs.run']);
    const job = await http().post('/api/v1/jobs?wait=false').set('Authorization', as(carol.token)).send({ runtime: 'bash', code: 'sleep 30; echo done', timeout_ms: 60_000 });
    expect(job.status).toBe(202);

    const byAuditor = await http().post(`/api/v1/jobs/${job.body.id}/cancel`).set('Authorization', as(auditor.token));
    const byStranger = await http().post(`/api/v1/jobs/${job.body.id}/cancel`).set('Authorization', as(stranger.token));
    const stillThere = await http().get(`/api/v1/jobs/${job.body.id}`).set('Authorization', as(carol.token));
    const byOwner = await http().post(`/api/v1/jobs/${job.body.id}/cancel`).set('Authorization', as(carol.token));

    expect(byAuditor.status).toBe(403);
    expect(byAuditor.body).toMatchObject({ code: 'FORBIDDEN', details: { missing: ['nodes.manage'] } });
    expect(byStranger.status).toBe(404);
    expect(stillThere.body.status).not.toBe('cancelled');
    expect(byOwner.status).toBe(200);
    await stack.waitFor('the job cancelled', async () => (await http().get(`/api/v1/jobs/${job.body.id}`).set('Authorization', as(carol.token))).body.status === 'cancelled');
  }, 60_000);

  it('shows a node\'s metrics without the servers the caller cannot see (F12)', async () => {
    const http = stack.http;
    const dave = await userWith('dave');
    const start = await http().post(`/api/v1/servers/${aliceServer}/power`).set('Authorization', as(alice.token)).send({ action: 'start' });
    expect(start.status).toBe(200);
    const serverIds = async (token: string) =>
      ((await http().get(`/api/v1/nodes/${nodeId}/metrics`).set('Authorization', as(token))).body.servers ?? []).map((s: { server_id: string }) => s.server_id) as string[];
    await stack.waitFor('admin sees the server\'s usage', async () => (await serverIds(admin)).includes(aliceServer), 20_000);

    const byDave = await http().get(`/api/v1/nodes/${nodeId}/metrics`).set('Authorization', as(dave.token));
    const byAlice = await serverIds(alice.token);
    const hidden = await http().get(`/api/v1/servers/${aliceServer}`).set('Authorization', as(dave.token));

    expect(hidden.status).toBe(404);
    expect(byDave.status).toBe(200);
    expect(byDave.body.servers).toEqual([]);
    expect(byAlice).toEqual([aliceServer]);
  }, 60_000);

  describe('agent reports (F9)', () => {
    let fake: string;
    let nc: NatsConnection;
    const spec = (note: unknown, version: string) => ({
      cpu: { model: 'x', cores: 1 }, memory_bytes: 1, disk_bytes: 1, os: 'linux', kernel: 'k', agent_version: version,
      drivers: ['process'], capabilities: [{ driver: 'process', notes: [note] }], runtimes: [],
    });
    const publish = (kind: string, body: unknown) => nc.jetstream().publish(`agent.${fake}.report.${kind}`, json.encode(body));

    beforeAll(async () => {
      const node = await stack.http().post('/api/v1/nodes').set('Authorization', as(admin)).send({ name: 'poisoned-node', memory_mb: 1024, cpu_percent: 100, storage_size: '10G' });
      fake = node.body.id;
      const creds = await mintUserCreds(stack.env.nats.signer, `agent-${fake}`, agentPermissions(fake));
      nc = await connect({ servers: stack.env.nats.url, inboxPrefix: inboxPrefixFromCreds(creds), authenticator: credsAuthenticator(new TextEncoder().encode(creds)) });
      clean.push(() => nc.close());
    });

    it('drops reports holding NUL, lone surrogates at any depth, or values nested too deep; the node keeps the next good spec and /health stays ok', async () => {
      let deep: unknown = 'bottom';
      for (let i = 0; i < 200; i++) deep = { d: deep };
      await publish('boot', { spec: spec('a\u0000b', 'bad-1'), at: Date.now() });
      await publish('boot', { spec: spec({ nested: ['x', { y: 'lone \ud800' }] }, 'bad-2'), at: Date.now() });
      await publish('boot', { spec: spec(deep, 'bad-3'), at: Date.now() });
      // Reports of one node are handled in order: the good one showing up proves the bad ones were handled.
      await publish('boot', { spec: spec('fine', 'good'), at: Date.now() });

      const node = await stack.waitFor('the good spec', async () => {
        const res = await stack.http().get(`/api/v1/nodes/${fake}`).set('Authorization', as(admin));
        return res.body.spec?.agent_version === 'good' ? res : undefined;
      });
      const health = await stack.http().get('/api/v1/health');

      expect(node.body.spec.capabilities).toEqual([{ driver: 'process', notes: ['fine'] }]);
      expect(health.body.deadLetters).toBe(0);
      expect(health.body.status).toBe('up');
    }, 60_000);
  });
});
