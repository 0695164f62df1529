import { startStack, type Stack } from '../../gateway/test/stack-harness';
import { localRepo, plugin, startSink, type LocalRepo, type Sink } from './plugin-repo';

/*
 * Issue 13's acceptance with real servers: a real agent runs a process server; a webhook plugin
 * posts every server start (server.running) to a loopback sink; a plugin holding api:servers.power
 * stops the server it is configured with, and the stop is recorded with the plugin as its actor;
 * the same plugin without the grant cannot.
 */

const WEBHOOK = `export default {
  async onEvent(event, ctx) {
    await ctx.http.post(ctx.config.url, { type: event.type, subject: event.subject, actor: event.actor });
  },
};`;
const STOPPER = `export default {
  async onEvent(event, ctx) {
    if (event.subject !== 'server/' + ctx.config.server_id) return;
    try {
      await ctx.api.call('servers.power', { id: ctx.config.server_id, action: 'stop' });
      ctx.log('stopped', ctx.config.server_id);
    } catch (e) {
      ctx.log('could not stop:', String(e && e.message));
    }
  },
};`;
const serverConfig = { type: 'object', required: ['server_id'], properties: { server_id: { type: 'string' } } };

describe('plugins and servers (issue 13 acceptance)', () => {
  let stack: Stack;
  let admin: string;
  let repo: LocalRepo;
  let sink: Sink;
  const auth = () => `Bearer ${admin}`;

  beforeAll(async () => {
    sink = await startSink();
    repo = localRepo();
    repo.commit({
      ...plugin('webhook', { name: 'webhook', events: ['server.running'], permissions: [`http:${sink.host}`], config_schema: { type: 'object', required: ['url'], properties: { url: { type: 'string' } } } }, WEBHOOK),
      ...plugin('stopper', { name: 'stopper', events: ['server.running'], permissions: ['api:servers.power'], config_schema: serverConfig }, STOPPER),
      ...plugin('stopper-without', { name: 'stopper-without', events: ['server.running'], permissions: ['kv'], config_schema: serverConfig }, STOPPER),
    });
    stack = await startStack({ files: false, plugins: {} });
    admin = await stack.adminToken();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await sink?.close();
    repo?.remove();
  });

  it('posts every server start; a plugin stops a server only with api:servers.power, as itself', async () => {
    const http = stack.http;
    const node = await http().post('/api/v1/nodes').set('Authorization', auth()).send({ name: 'plugins-node', memory_mb: 4096, cpu_percent: 400, storage_size: '10G' });
    expect(node.status).toBe(201);
    stack.startAgent(node.body.enrollment.token);
    await stack.waitFor('node online', async () => (await http().get(`/api/v1/nodes/${node.body.id}`).set('Authorization', auth())).body.state === 'online', 30_000);
    const template = await http()
      .post('/api/v1/templates')
      .set('Authorization', auth())
      .send({ name: 'sleeper', driver: 'process', startup: 'echo "Server ready"; exec sleep 3600', ready_pattern: 'Server ready', stop: { signal: 'SIGKILL', timeout_s: 5 }, limits: { memory_mb: 64, cpu_percent: 50, disk_mb: 100 } });
    expect(template.status).toBe(201);
    const created = await http()
      .post('/api/v1/servers')
      .set('Authorization', auth())
      .send({ name: 'watched', template_id: template.body.id, node_id: node.body.id, limits: { memory_mb: 64, cpu_percent: 50, disk_mb: 100 } });
    expect(created.status).toBe(201);
    const serverId = created.body.id as string;
    const state = async () => (await http().get(`/api/v1/servers/${serverId}`).set('Authorization', auth())).body.state as string;
    await stack.waitFor('installed', async () => (await state()) === 'offline', 60_000);

    const repository = await http().post('/api/v1/plugins/repositories').set('Authorization', auth()).send({ name: 'local', url: repo.url });
    expect(repository.body.plugins).toBe(3);
    const catalog = (await http().get('/api/v1/plugins/catalog').set('Authorization', auth())).body as { id: string; name: string }[];
    const idOf = (name: string) => catalog.find((c) => c.name === name)!.id;
    const webhook = await http().post('/api/v1/plugins/install').set('Authorization', auth()).send({ catalog_id: idOf('webhook'), config: { url: sink.url } });
    const without = await http().post('/api/v1/plugins/install').set('Authorization', auth()).send({ catalog_id: idOf('stopper-without'), config: { server_id: serverId } });
    const stopper = await http().post('/api/v1/plugins/install').set('Authorization', auth()).send({ catalog_id: idOf('stopper'), config: { server_id: serverId }, approve: true });
    expect([webhook.status, without.status, stopper.status]).toEqual([201, 201, 201]);

    for (const round of [1, 2]) {
      const started = await http().post(`/api/v1/servers/${serverId}/power`).set('Authorization', auth()).send({ action: 'start' });
      expect(started.status).toBe(200);
      await stack.waitFor(`start ${round} posted`, async () => sink.posts.filter((p) => p.body?.type === 'server.running' && p.body.subject === `server/${serverId}`).length >= round, 60_000);
      // The stopper (with the grant) stops it again; the stop names the plugin as its actor.
      await stack.waitFor(`stopped by the plugin (${round})`, async () => {
        const audit = await http().get(`/api/v1/audit?actor=plugin:${stopper.body.id}&action=server.stop_requested`).set('Authorization', auth());
        return audit.body.items.length >= round && (await state()) === 'offline';
      }, 60_000);
    }

    const logsOf = async (id: string) => ((await http().get(`/api/v1/plugins/${id}/logs`).set('Authorization', auth())).body.logs as { message: string }[]).map((l) => l.message).join('\n');
    expect(await logsOf(stopper.body.id)).toContain(`stopped ${serverId}`);
    expect(await logsOf(without.body.id)).toMatch(/could not stop: .*(undefined|not an object|cannot read)/i);
    const byWithout = await http().get(`/api/v1/audit?actor=plugin:${without.body.id}`).set('Authorization', auth());
    expect(byWithout.body.items).toEqual([]);
    expect(sink.posts.filter((p) => p.body?.type === 'server.running').length).toBe(2);
  }, 240_000);
});
