import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localRepo, plugin, type LocalRepo } from '../../test/plugin-repo';
import { GitRepositories } from './git-repository';
import { checkRepositoryUrl } from './repository-url';

/*
 * Catalog URLs (docs/plugins.md, "Repositories"): production fetches https:// and ssh only, from
 * hosts whose every address is public; file://, http://, git://, ext:: and internal addresses are
 * refused. Tests' local repositories need GitLimits.allowLocalRepositories, which main.ts never sets.
 */
describe('repository URL policy', () => {
  const publicLookup = async () => ['203.0.113.9'];

  it.each([
    ['file:///etc', /file:\/\/ repositories are refused/],
    ['http://example.com/repo.git', /http:\/\/ repositories are refused/],
    ['git://example.com/repo.git', /git:\/\/ repositories are refused/],
    ['ext::sh -c touch% /tmp/pwned', /transport is refused|not a URL/],
    ['https://127.0.0.1/repo.git', /internal address \(127\.0\.0\.1\)/],
    ['https://[::1]/repo.git', /internal address/],
    ['https://169.254.169.254/latest', /internal address/],
    ['https://10.1.2.3/repo.git', /internal address/],
    ['https://192.168.1.10/repo.git', /internal address/],
    ['ssh://git@172.16.0.5/repo.git', /internal address/],
    ['git@127.0.0.1:org/repo.git', /internal address/],
    ['https://[::ffff:127.0.0.1]/repo.git', /internal address/],
  ])('refuses %s', async (url, why) => {
    await expect(checkRepositoryUrl(url, { lookup: publicLookup })).rejects.toThrow(why);
  });

  it('refuses a name that resolves to an internal address (localhost, or any name pointed at one)', async () => {
    await expect(checkRepositoryUrl('https://localhost/repo.git')).rejects.toThrow(/internal address/);
    await expect(checkRepositoryUrl('https://git.example.test/repo.git', { lookup: async () => ['203.0.113.9', '10.0.0.7'] })).rejects.toThrow(/internal address \(10\.0\.0\.7\)/);
  });

  it('takes https and ssh to public hosts, with the addresses it checked', async () => {
    await expect(checkRepositoryUrl('https://git.example.test/org/repo.git', { lookup: publicLookup })).resolves.toMatchObject({ kind: 'https', host: 'git.example.test', port: 443, addresses: ['203.0.113.9'] });
    await expect(checkRepositoryUrl('git@git.example.test:org/repo.git', { lookup: publicLookup })).resolves.toMatchObject({ kind: 'ssh', addresses: ['203.0.113.9'] });
  });

  describe('GitRepositories', () => {
    let repo: LocalRepo;
    let dataDir: string;
    beforeAll(() => {
      repo = localRepo();
      repo.commit(plugin('p', { name: 'p', events: ['server.*'] }, 'export default { onEvent() {} };'));
      dataDir = mkdtempSync(join(tmpdir(), 'encedeus-git-policy-'));
    });
    afterAll(() => {
      repo.remove();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('does not fetch a local repository unless allowLocalRepositories is set (tests only)', async () => {
      await expect(new GitRepositories(dataDir).sync('00000000-0000-4000-8000-000000000001', repo.url, 'main')).rejects.toThrow(/refused URL: file:\/\//);
      await expect(new GitRepositories(dataDir).checkUrl(`http://127.0.0.1:1/x`)).rejects.toThrow(/refused/);
      const synced = await new GitRepositories(dataDir, { allowLocalRepositories: true }).sync('00000000-0000-4000-8000-000000000002', repo.url, 'main');
      expect(synced.plugins.map((p) => p.manifest.name)).toEqual(['p']);
    });

    it('connects to the address it checked, never resolving the name again (no DNS rebinding window)', async () => {
      // The checked name does not exist in DNS: unpinned, git would fail "Could not resolve host".
      const git = new GitRepositories(dataDir, { lookup: publicLookup, timeoutMs: 10_000 });
      const error = await git.sync('00000000-0000-4000-8000-000000000003', 'https://repo.rebind.example.test/org/repo.git', 'main').catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).not.toMatch(/Could not resolve host/);
    });
  });
});
