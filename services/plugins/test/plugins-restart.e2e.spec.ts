import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestMicroservice } from '@nestjs/common';
import { startServiceApp } from '@encedeus/messaging';
import { startStack, type Stack } from '../../gateway/test/stack-harness';
import { PluginsModule } from '../src/plugins.module';
import { localRepo, plugin, startSink, type LocalRepo, type Sink } from './plugin-repo';

/** At-least-once across a restart of the plugins service: events appended while it is down reach the plugin when it is back. */
describe('plugins: delivery across a restart of the service', () => {
  let stack: Stack;
  let repo: LocalRepo;
  let sink: Sink;
  let admin: string;
  let again: INestMicroservice | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'encedeus-plugins-restart-'));

  beforeAll(async () => {
    sink = await startSink();
    repo = localRepo();
    repo.commit(plugin('hook', { name: 'hook', events: ['template.created'], permissions: [`http:${sink.host}`] }, `export default { async onEvent(e, ctx) { await ctx.http.post('${sink.url}', { name: e.data.name }); } };`));
    stack = await startStack({ files: false, plugins: { dataDir } });
    admin = await stack.adminToken();
  }, 120_000);

  afterAll(async () => {
    await again?.close().catch(() => undefined);
    await stack?.stop();
    await sink?.close();
    repo?.remove();
  });

  const template = async (name: string) => {
    const res = await stack.http().post('/api/v1/templates').set('Authorization', `Bearer ${admin}`).send({ name, driver: 'process', startup: 'echo hi' });
    expect(res.status).toBe(201);
  };
  const posted = (name: string) => sink.posts.some((p) => p.body?.name === name);

  it('delivers what was appended while the service was down, in order, once it is back', async () => {
    await stack.http().post('/api/v1/plugins/repositories').set('Authorization', `Bearer ${admin}`).send({ name: 'local', url: repo.url });
    const [entry] = (await stack.http().get('/api/v1/plugins/catalog').set('Authorization', `Bearer ${admin}`)).body;
    expect((await stack.http().post('/api/v1/plugins/install').set('Authorization', `Bearer ${admin}`).send({ catalog_id: entry.id })).status).toBe(201);
    await template('before');
    await stack.waitFor('before posted', async () => posted('before'), 20_000);

    await stack.plugins!.close();
    for (const name of ['while-down-1', 'while-down-2', 'while-down-3']) await template(name);
    const servers = stack.env.nats.url;
    const creds = await stack.env.nats.creds('plugins');
    again = await startServiceApp('plugins', PluginsModule.forRoot({ nats: { servers, creds }, databaseUrl: stack.env.db.url, dataDir }), { servers, creds, logger: ['error'] });

    // Well under the boot's projector wait (60 s): a projection that did not follow the whole stream made this take that long.
    await stack.waitFor('the missed events', async () => ['while-down-1', 'while-down-2', 'while-down-3'].every(posted), 20_000);
    const names = sink.posts.map((p) => p.body?.name).filter((n) => String(n).startsWith('while-down'));
    expect(names.slice(0, 3)).toEqual(['while-down-1', 'while-down-2', 'while-down-3']);
  }, 120_000);
});
