import { createHmac, randomUUID } from 'node:crypto';
import { startStack, type Stack } from '../../gateway/test/stack-harness';
import { localRepo, plugin, startSink, type LocalRepo, type Sink } from './plugin-repo';

/*
 * Issue 13 end to end: a real stack (NATS in operator mode, Postgres, the gateway) with the plugins
 * service, a local Git repository (file://), plugins that post to a loopback sink, loop forever,
 * allocate without end, and call the API with and without the grant. Template creation is the
 * event the plugins react to: it is cheap (no agent) and goes through the nodes service like any
 * other event of EVENTS.
 */

const WEBHOOK = `export default {
  async onEvent(event, ctx) {
    const r = await ctx.http.post(ctx.config.url, { type: event.type, id: event.id, name: event.data.name, actor: event.actor });
    ctx.log('posted', event.data.name, r.status);
  },
};`;
const LOOP = `export default { onEvent() { for (;;) {} } };`;
const ALLOCATE = `export default { onEvent() { const all = []; for (;;) all.push('x'.repeat(65536) + all.length); } };`;
const CALLER = `export default {
  async onEvent(event, ctx) {
    if (!event.data.name.startsWith('api-')) return;
    try {
      const reply = await ctx.api.call('servers.power', { id: '${'00000000-0000-4000-8000-00000000dead'}', action: 'start' });
      ctx.log('api answered', JSON.stringify(reply));
    } catch (e) {
      ctx.log('api refused:', String(e && e.message));
    }
  },
};`;

describe('plugins (issue 13)', () => {
  let stack: Stack;
  let admin: string;
  let repo: LocalRepo;
  let sink: Sink;
  const auth = () => `Bearer ${admin}`;
  const SECRET = 'webhook secret for the test';

  beforeAll(async () => {
    process.env.PLUGINS_WEBHOOK_SECRET = SECRET;
    sink = await startSink();
    repo = localRepo();
    repo.commit({
      ...plugin('webhook', { name: 'webhook', description: 'Posts events to a URL', events: ['template.created'], permissions: [`http:${sink.host}`], config_schema: { type: 'object', required: ['url'], properties: { url: { type: 'string', minLength: 8 } } } }, WEBHOOK),
      ...plugin('looper', { name: 'looper', events: ['template.created'], permissions: [] }, LOOP),
      ...plugin('hog', { name: 'hog', events: ['template.created'], permissions: [] }, ALLOCATE),
      ...plugin('caller-without', { name: 'caller-without', events: ['template.created'], permissions: ['kv'] }, CALLER),
      ...plugin('caller-with', { name: 'caller-with', events: ['template.created'], permissions: ['api:servers.power'] }, CALLER),
      'plugins/broken/plugin.json': { name: 'broken', version: '1', entry: '../../etc/passwd', events: ['x.y'] },
      'templates/hello/template.json': { name: 'Hello from the catalog', description: 'echo', driver: 'process', startup: 'echo hello', category: 'demo', tags: ['demo'] },
    });
    stack = await startStack({
      files: false,
      plugins: { delivery: { attempts: 2, suspendAfter: 2, retryDelayMs: 10, sandbox: { cpuMs: 100, wallMs: 4000, memoryBytes: 8 * 1024 * 1024 } } },
    });
    admin = await stack.adminToken();
  }, 120_000);

  afterAll(async () => {
    delete process.env.PLUGINS_WEBHOOK_SECRET;
    await stack?.stop();
    await sink?.close();
    repo?.remove();
  });

  const createTemplate = async (name: string) => {
    const res = await stack.http().post('/api/v1/templates').set('Authorization', auth()).send({ name, driver: 'process', startup: 'echo hi' });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const installed = async (id: string) => (await stack.http().get(`/api/v1/plugins/${id}`).set('Authorization', auth())).body;
  const catalogEntry = async (name: string) => {
    const res = await stack.http().get('/api/v1/plugins/catalog').set('Authorization', auth());
    return (res.body as any[]).find((p) => p.name === name);
  };
  const install = (catalogId: string, body: object = {}) => stack.http().post('/api/v1/plugins/install').set('Authorization', auth()).send({ catalog_id: catalogId, ...body });
  const logs = async (id: string) => ((await stack.http().get(`/api/v1/plugins/${id}/logs`).set('Authorization', auth())).body.logs as { message: string }[]).map((l) => l.message);
  const posted = (name: string) => sink.posts.find((p) => p.body?.name === name);

  let repositoryId: string;
  const ids: Record<string, string> = {};

  it('adds a repository and syncs its catalog with git; an invalid manifest is skipped', async () => {
    const res = await stack.http().post('/api/v1/plugins/repositories').set('Authorization', auth()).send({ name: 'local', url: repo.url, branch: 'main' });

    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'synced', plugins: 5, templates: 1, last_error: null });
    repositoryId = res.body.id;
    const catalog = (await stack.http().get('/api/v1/plugins/catalog').set('Authorization', auth())).body as any[];
    expect(catalog.map((p) => [p.name, p.risk]).sort()).toEqual([
      ['caller-with', 'high'],
      ['caller-without', 'low'],
      ['hog', 'low'],
      ['looper', 'low'],
      ['webhook', 'medium'],
    ]);
    expect((await stack.http().get('/api/v1/plugins/catalog?q=URL').set('Authorization', auth())).body.map((p: any) => p.name)).toEqual(['webhook']);
  });

  it('refuses a git URL that could be read as an option, and a repository that does not exist is recorded as failed', async () => {
    const option = await stack.http().post('/api/v1/plugins/repositories').set('Authorization', auth()).send({ name: 'evil', url: '--upload-pack=touch /tmp/pwned', branch: 'main' });
    expect(option.status).toBe(422);

    const missing = await stack.http().post('/api/v1/plugins/repositories').set('Authorization', auth()).send({ name: 'missing', url: 'file:///nonexistent/repo', branch: 'main' });
    expect(missing.status).toBe(201);
    expect(missing.body.status).toBe('failed');
    expect(missing.body.last_error).toMatch(/git fetch/);
    expect((await stack.http().delete(`/api/v1/plugins/repositories/${missing.body.id}`).set('Authorization', auth())).status).toBe(204);
  });

  it('validates the config against config_schema: 422 with the fields', async () => {
    const webhook = await catalogEntry('webhook');

    const res = await install(webhook.id, { config: { url: 42 } });

    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body)).toContain('config.url');
  });

  it('installs a high-risk plugin only with an administrator\'s approval', async () => {
    const caller = await catalogEntry('caller-with');

    const refused = await install(caller.id);
    expect(refused.status).toBe(403);

    const approved = await install(caller.id, { approve: true });
    expect(approved.status).toBe(201);
    expect(approved.body).toMatchObject({ risk: 'high', state: 'enabled' });
    ids.callerWith = approved.body.id;
  });

  it('delivers events to a webhook plugin; an endless loop and an allocation spree are suspended while /health stays up and the webhook keeps delivering', async () => {
    const installs = await Promise.all(['webhook', 'looper', 'hog', 'caller-without'].map(async (name) => [name, await catalogEntry(name)] as const));
    for (const [name, entry] of installs) {
      const res = await install(entry.id, name === 'webhook' ? { config: { url: sink.url } } : {});
      expect([name, res.status]).toEqual([name, 201]);
      ids[name] = res.body.id;
    }

    for (const name of ['t-one', 't-two', 't-three']) await createTemplate(name);

    await stack.waitFor('looper and hog suspended', async () => {
      const [looper, hog] = await Promise.all([installed(ids.looper), installed(ids.hog)]);
      return looper.state === 'suspended' && hog.state === 'suspended' ? [looper, hog] : undefined;
    }, 60_000);
    const looper = await installed(ids.looper);
    const hog = await installed(ids.hog);
    expect(looper.suspended_reason).toMatch(/CPU budget/);
    expect(hog.suspended_reason).toMatch(/memory|CPU budget|stopped/);
    expect(looper.dead_letters).toBeGreaterThanOrEqual(2);
    expect((await stack.http().get('/api/v1/health')).status).toBe(200);
    await stack.waitFor('the webhook posted all three', async () => ['t-one', 't-two', 't-three'].every(posted), 20_000);
    expect(posted('t-one')!.body.type).toBe('template.created');

    // Still alive after the others were stopped.
    await createTemplate('t-four');
    await stack.waitFor('t-four posted', async () => posted('t-four'), 20_000);

    // Lag and dead letters for Prometheus.
    const metrics = await stack.http().get('/metrics').set('Authorization', auth());
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(new RegExp(`encedeus_plugin_dead_letters_total\\{plugin="looper",id="${ids.looper}"\\} [2-9]`));
    expect(metrics.text).toMatch(new RegExp(`encedeus_plugin_lag\\{plugin="webhook",id="${ids.webhook}",state="enabled"\\} 0`));
  }, 120_000);

  it('disable stops delivery; enable delivers what happened meanwhile', async () => {
    const disabled = await stack.http().post(`/api/v1/plugins/${ids.webhook}/disable`).set('Authorization', auth());
    expect(disabled.status).toBe(200);
    expect(disabled.body.state).toBe('disabled');

    await createTemplate('t-while-disabled');
    // The event waits in the plugin's durable (its lag) instead of being posted.
    await stack.waitFor('lag of the disabled webhook', async () => ((await installed(ids.webhook)).lag ?? 0) >= 1, 20_000);
    expect(posted('t-while-disabled')).toBeUndefined();
    const enabledAt = Date.now();

    const enabled = await stack.http().post(`/api/v1/plugins/${ids.webhook}/enable`).set('Authorization', auth());
    expect(enabled.body.state).toBe('enabled');
    const missed = await stack.waitFor('the missed event', async () => posted('t-while-disabled'), 20_000);
    expect(missed.at).toBeGreaterThanOrEqual(enabledAt);
  }, 60_000);

  it('calls the API only with api:<permission>; the call is made as the plugin', async () => {
    await createTemplate('api-call');

    await stack.waitFor('both callers ran', async () => {
      const [without, withGrant] = await Promise.all([logs(ids['caller-without']), logs(ids.callerWith)]);
      return without.some((l) => l.includes('api refused')) && withGrant.some((l) => l.includes('api')) ? true : undefined;
    }, 30_000);
    const without = await logs(ids['caller-without']);
    const withGrant = await logs(ids.callerWith);
    // No ctx.api at all without the grant.
    expect(without.join('\n')).toMatch(/api refused: .*(undefined|not an object|cannot read)/i);
    // With it the command reached the nodes service, which answered for that (unknown) server.
    expect(withGrant.join('\n')).toMatch(/api refused: ctx\.api: servers\.power: NOT_FOUND/);
  }, 60_000);

  it('lists templates of the repository in the template catalog and installs one', async () => {
    const list = await stack.http().get('/api/v1/catalog/templates').set('Authorization', auth());
    expect(list.status).toBe(200);
    expect(list.body.map((t: any) => t.name)).toEqual(['Hello from the catalog']);

    const res = await stack.http().post(`/api/v1/catalog/templates/${list.body[0].id}/install`).set('Authorization', auth());

    expect(res.status).toBe(201);
    const template = await stack.http().get(`/api/v1/templates/${res.body.id}`).set('Authorization', auth());
    expect(template.body).toMatchObject({ name: 'Hello from the catalog', startup: 'echo hello' });
  });

  it('syncs from a signed webhook only', async () => {
    repo.commit({ ...plugin('second', { name: 'second', events: ['user.created'], permissions: ['kv'] }, 'export default { onEvent() {} };') });
    const body = JSON.stringify({ url: repo.url, branch: 'main' });

    const unsigned = await stack.http().post('/api/v1/webhooks/repository/sync').set('content-type', 'application/json').send(body);
    const forged = await stack.http().post('/api/v1/webhooks/repository/sync').set('content-type', 'application/json').set('X-Hub-Signature-256', `sha256=${createHmac('sha256', 'wrong').update(body).digest('hex')}`).send(body);
    expect([unsigned.status, forged.status]).toEqual([401, 401]);
    expect(await catalogEntry('second')).toBeUndefined();

    const signed = await stack.http().post('/api/v1/webhooks/repository/sync').set('content-type', 'application/json').set('X-Hub-Signature-256', `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`).send(body);

    expect(signed.status).toBe(200);
    expect(signed.body.synced[0]).toMatchObject({ id: repositoryId, plugins: 6 });
    expect(await catalogEntry('second')).toBeDefined();
  });

  it('rates, changes config (validated), and uninstalls (consumer gone)', async () => {
    const rated = await stack.http().post(`/api/v1/plugins/${ids.webhook}/rate`).set('Authorization', auth()).send({ rating: 4, review: 'works' });
    expect(rated.status).toBe(200);
    expect((await catalogEntry('webhook')).avg_rating).toBe(4);

    const bad = await stack.http().put(`/api/v1/plugins/${ids.webhook}/config`).set('Authorization', auth()).send({ config: {} });
    expect(bad.status).toBe(422);
    const good = await stack.http().put(`/api/v1/plugins/${ids.webhook}/config`).set('Authorization', auth()).send({ config: { url: `${sink.url}?v=2` } });
    expect(good.status).toBe(200);

    const removed = await stack.http().delete(`/api/v1/plugins/${ids.webhook}`).set('Authorization', auth());
    expect(removed.status).toBe(204);
    expect((await stack.http().get(`/api/v1/plugins/${ids.webhook}`).set('Authorization', auth())).status).toBe(404);
    expect((await stack.http().get(`/api/v1/plugins/${randomUUID()}`).set('Authorization', auth())).status).toBe(404);
    expect((await stack.http().get('/api/v1/plugins/not-a-uuid').set('Authorization', auth())).status).toBe(422);
  });

  it('needs plugins.manage', async () => {
    const role = await stack.http().post('/api/v1/roles').set('Authorization', auth()).send({ name: 'viewer-role', permissions: ['templates.read'] });
    expect(role.status).toBe(201);
    await stack.http().post('/api/v1/users').set('Authorization', auth()).send({ name: 'viewer', email: 'viewer@plugins.test', password: 'viewer password 1', role_name: 'viewer-role' });
    const login = await stack.http().post('/api/v1/auth/login').send({ email: 'viewer@plugins.test', password: 'viewer password 1' });
    const as = `Bearer ${login.body.accessToken}`;

    expect((await stack.http().get('/api/v1/plugins/catalog').set('Authorization', as)).status).toBe(403);
    expect((await stack.http().post('/api/v1/plugins/repositories').set('Authorization', as).send({ name: 'x', url: repo.url })).status).toBe(403);
    expect((await stack.http().get('/api/v1/catalog/templates').set('Authorization', as)).status).toBe(200);
    expect((await stack.http().get('/api/v1/plugins/installed')).status).toBe(401);
  });
});
