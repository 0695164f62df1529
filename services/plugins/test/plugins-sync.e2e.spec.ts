import { startStack, type Stack } from '../../gateway/test/stack-harness';
import { localRepo, plugin, type LocalRepo } from './plugin-repo';

/** The scheduled sync (croner, under the `plugins.repository-sync` lease) picks up a new commit by itself. */
describe('plugins: scheduled repository sync', () => {
  let stack: Stack;
  let repo: LocalRepo;
  let admin: string;

  beforeAll(async () => {
    repo = localRepo();
    repo.commit(plugin('first', { name: 'first', events: ['user.created'], permissions: [] }, 'export default { onEvent() {} };'));
    stack = await startStack({ files: false, plugins: { sync: { schedule: '* * * * * *', lease: { ttlMs: 2000 } } } });
    admin = await stack.adminToken();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    repo?.remove();
  });

  it('syncs every repository on its schedule', async () => {
    const added = await stack.http().post('/api/v1/plugins/repositories').set('Authorization', `Bearer ${admin}`).send({ name: 'scheduled', url: repo.url });
    expect(added.body.plugins).toBe(1);

    const commit = repo.commit(plugin('second', { name: 'second', events: ['user.created'], permissions: [] }, 'export default { onEvent() {} };'));

    const synced = await stack.waitFor('the scheduled sync', async () => {
      const [r] = (await stack.http().get('/api/v1/plugins/repositories').set('Authorization', `Bearer ${admin}`)).body;
      return r.commit === commit ? r : undefined;
    }, 30_000);
    expect(synced.plugins).toBe(2);
  }, 60_000);
});
