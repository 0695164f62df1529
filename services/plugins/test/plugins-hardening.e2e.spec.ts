import { startStack, type Stack } from '../../gateway/test/stack-harness';
import { PLUGIN_KV_BUCKET } from '../src/delivery/capabilities';
import { localRepo, plugin, type LocalRepo } from './plugin-repo';

/*
 * Holes of the plugins service closed after issue 13, on a real stack (NATS in operator mode,
 * Postgres, the gateway, the plugins service):
 * - a config_schema pattern that backtracks catastrophically does not hang the service;
 * - repository URLs: file://, http://, loopback/private/link-local hosts and other transports are
 *   refused unless the test-only option allows local repositories;
 * - the plugins service is in /health;
 * - lifecycle hooks onInstall/onEnable/onDisable run in the sandbox at those moments.
 */

const HOOKED = `export default {
  async onInstall(info, ctx) { await ctx.kv.set('installed', { id: info.id, hook: info.hook }); ctx.log('onInstall ran for', info.name); },
  onEnable(info, ctx) { if (ctx.config.refuseEnable) throw new Error('not today'); ctx.log('onEnable ran'); },
  onDisable(info, ctx) { ctx.log('onDisable ran'); },
  async onEvent() {},
};`;
const BAD_INSTALL = `export default {
  async onInstall(info, ctx) { await ctx.kv.set('leftover', 1); ctx.log('about to fail'); throw new Error('cannot set up'); },
  onEvent() {},
};`;
const LOOP_INSTALL = `export default { onInstall() { for (;;) {} }, onEvent() {} };`;
const BAD_DISABLE = `export default { onDisable() { throw new Error('teardown broke'); }, onEvent() {} };`;
const NOTHING = `export default { onEvent() {} };`;
const RISKY = `export default { async onInstall(info, ctx) { await ctx.kv.set('risky_ran', true); }, onEvent() {} };`;

describe('plugins: hardening and lifecycle hooks', () => {
  let stack: Stack;
  let admin: string;
  let repo: LocalRepo;
  const auth = () => `Bearer ${admin}`;

  beforeAll(async () => {
    repo = localRepo();
    repo.commit({
      ...plugin('hooked', { name: 'hooked', events: ['template.created'], permissions: ['kv'], config_schema: { type: 'object', properties: { refuseEnable: { type: 'boolean' } } } }, HOOKED),
      ...plugin('bad-install', { name: 'bad-install', events: ['template.created'], permissions: ['kv'] }, BAD_INSTALL),
      ...plugin('loop-install', { name: 'loop-install', events: ['template.created'] }, LOOP_INSTALL),
      ...plugin('bad-disable', { name: 'bad-disable', events: ['template.created'] }, BAD_DISABLE),
      ...plugin('risky', { name: 'risky', events: ['template.created'], permissions: ['kv', 'api:servers.power'] }, RISKY),
      ...plugin('redos', { name: 'redos', events: ['template.created'], config_schema: { type: 'object', properties: { name: { type: 'string', pattern: '^(a+)+$' } } } }, NOTHING),
      ...plugin('slow-pattern', { name: 'slow-pattern', events: ['template.created'], config_schema: { type: 'object', properties: { n: { type: 'string', pattern: '^\\d*\\d*\\d*\\d*\\d*\\d*$' } } } }, NOTHING),
    });
    stack = await startStack({ files: false, metrics: false, plugins: { delivery: { sandbox: { cpuMs: 100, wallMs: 4000 } } } });
    admin = await stack.adminToken();
    const res = await stack.http().post('/api/v1/plugins/repositories').set('Authorization', auth()).send({ name: 'local', url: repo.url, branch: 'main' });
    expect(res.body).toMatchObject({ status: 'synced' });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    repo?.remove();
  });

  const catalogEntry = async (name: string) => ((await stack.http().get('/api/v1/plugins/catalog').set('Authorization', auth())).body as any[]).find((p) => p.name === name);
  const install = (catalogId: string, body: object = {}) => stack.http().post('/api/v1/plugins/install').set('Authorization', auth()).send({ catalog_id: catalogId, ...body });
  const installedNames = async () => ((await stack.http().get('/api/v1/plugins/installed').set('Authorization', auth())).body as any[]).map((p) => p.name);
  const logs = async (id: string) => ((await stack.http().get(`/api/v1/plugins/${id}/logs`).set('Authorization', auth())).body.logs as { message: string }[]).map((l) => l.message);
  const kvKeys = async () => {
    const jsm = await (await stack.env.connect('plugins')).jetstreamManager();
    const info = await jsm.streams.info(`KV_${PLUGIN_KV_BUCKET}`, { subjects_filter: '>' });
    return Object.keys(info.state.subjects ?? {});
  };

  it('lists the plugins service in /health with the other services', async () => {
    const res = await stack.http().get('/api/v1/health');

    expect(res.status).toBe(200);
    expect(res.body.services.plugins).toMatchObject({ status: 'up' });
  });

  it('skips a plugin whose config_schema holds a catastrophic pattern ((a+)+$) when the repository syncs', async () => {
    expect(await catalogEntry('redos')).toBeUndefined();
    expect(await catalogEntry('slow-pattern')).toBeDefined();
  });

  it('answers 422 in bounded time for a pattern that backtracks on the config, and the service keeps serving', async () => {
    const entry = await catalogEntry('slow-pattern');
    const started = Date.now();

    const res = await install(entry.id, { config: { n: `${'1'.repeat(4000)}!` } });

    expect(res.status).toBe(422);
    expect(res.body.error).toMatch(/took longer than/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await stack.http().get('/api/v1/health')).status).toBe(200);
    expect((await install(entry.id, { config: { n: 'abc' } })).status).toBe(422);
    expect((await install(entry.id, { config: { n: `x${'y'.repeat(20_000)}` } })).status).toBe(422);
  }, 60_000);

  it('calls onInstall and onEnable at install, onDisable at disable, onEnable at enable (in the sandbox, with ctx)', async () => {
    const entry = await catalogEntry('hooked');

    const res = await install(entry.id, { config: { refuseEnable: false } });

    expect(res.status).toBe(201);
    const id = res.body.id as string;
    expect(await logs(id)).toEqual(expect.arrayContaining(['onInstall ran for hooked', 'onEnable ran']));
    expect((await kvKeys()).some((k) => k.endsWith('.installed'))).toBe(true);

    expect((await stack.http().post(`/api/v1/plugins/${id}/disable`).set('Authorization', auth())).body.state).toBe('disabled');
    expect(await logs(id)).toContain('onDisable ran');

    // A throwing onEnable refuses the enable: 422 with the plugin's message, still disabled.
    expect((await stack.http().put(`/api/v1/plugins/${id}/config`).set('Authorization', auth()).send({ config: { refuseEnable: true } })).status).toBe(200);
    const refused = await stack.http().post(`/api/v1/plugins/${id}/enable`).set('Authorization', auth());
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatch(/onEnable hook failed.*not today/);
    expect((await stack.http().get(`/api/v1/plugins/${id}`).set('Authorization', auth())).body.state).toBe('disabled');

    await stack.http().put(`/api/v1/plugins/${id}/config`).set('Authorization', auth()).send({ config: { refuseEnable: false } });
    expect((await stack.http().post(`/api/v1/plugins/${id}/enable`).set('Authorization', auth())).body.state).toBe('enabled');
  }, 60_000);

  it('fails an install whose onInstall throws with 422 and a clear message, leaving no installation, consumer or KV keys', async () => {
    const entry = await catalogEntry('bad-install');

    const res = await install(entry.id);

    expect(res.status).toBe(422);
    expect(res.body.error).toMatch(/onInstall hook failed.*cannot set up/);
    expect(await installedNames()).not.toContain('bad-install');
    expect((await kvKeys()).some((k) => k.endsWith('.leftover'))).toBe(false);
    const jsm = await (await stack.env.connect('plugins')).jetstreamManager();
    const durables: string[] = [];
    for await (const c of jsm.consumers.list('EVENTS')) durables.push(c.name);
    expect(durables.filter((d) => d.startsWith('plugin_')).length).toBe((await installedNames()).length);
  }, 60_000);

  it('never runs the onInstall of a high-risk plugin that was not approved (403 first)', async () => {
    const entry = await catalogEntry('risky');

    const res = await install(entry.id);

    expect(res.status).toBe(403);
    expect((await kvKeys()).some((k) => k.endsWith('.risky_ran'))).toBe(false);
  }, 60_000);

  it('bounds an onInstall that never returns (422 for its CPU budget)', async () => {
    const entry = await catalogEntry('loop-install');
    const started = Date.now();

    const res = await install(entry.id);

    expect(res.status).toBe(422);
    expect(res.body.error).toMatch(/onInstall hook failed.*(CPU budget|longer than)/);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await installedNames()).not.toContain('loop-install');
  }, 60_000);

  it('disables a plugin whose onDisable throws, and logs the error', async () => {
    const entry = await catalogEntry('bad-disable');
    const id = (await install(entry.id)).body.id as string;

    const res = await stack.http().post(`/api/v1/plugins/${id}/disable`).set('Authorization', auth());

    expect(res.status).toBe(200);
    expect(res.body.state).toBe('disabled');
    expect((await logs(id)).join('\n')).toMatch(/onDisable failed.*teardown broke.*disabled anyway/);
  }, 60_000);
});

describe('plugins: repository URLs in production (no local repositories)', () => {
  let stack: Stack;
  let admin: string;

  beforeAll(async () => {
    stack = await startStack({ files: false, metrics: false, plugins: { git: { allowLocalRepositories: false } } });
    admin = await stack.adminToken();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it.each(['file:///tmp', 'http://example.com/repo.git', 'git://example.com/repo.git', 'https://127.0.0.1/repo.git', 'https://localhost/repo.git', 'https://169.254.169.254/repo.git', 'https://10.0.0.1/repo.git', 'ssh://git@192.168.0.1/repo.git', 'ext::sh -c touch% /tmp/pwned'])(
    'refuses %s with 422 and records nothing',
    async (url) => {
      const res = await stack.http().post('/api/v1/plugins/repositories').set('Authorization', `Bearer ${admin}`).send({ name: 'refused', url, branch: 'main' });

      expect(res.status).toBe(422);
      expect((await stack.http().get('/api/v1/plugins/repositories').set('Authorization', `Bearer ${admin}`)).body).toEqual([]);
    },
  );
});
