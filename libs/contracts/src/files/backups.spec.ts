import { backupManifestSchema } from './backups';

/**
 * The manifest is written by an agent and read by the gateway, which turns its paths into the names
 * of a tar.gz download (and by the files service, which refuses a backup whose manifest does not
 * parse). An agent must not be able to name `../` or absolute paths there: an unpacking user would
 * write outside the folder they unpack into.
 */
describe('backupManifestSchema paths', () => {
  const manifest = (path: string) => ({ version: 1, entries: [{ path, type: 'file', mode: 0o644, mtime: 0, size: 0 }] });

  it('accepts relative paths as an agent walks them (dots and backslashes inside names included)', () => {
    for (const p of ['server.properties', 'world/region.bin', '.hidden/..x/a..b', 'a\\b', 'é 🎮/x']) expect([p, backupManifestSchema.safeParse(manifest(p)).success]).toEqual([p, true]);
  });

  it('refuses absolute paths, parent segments, empty and "." segments', () => {
    for (const p of ['/etc/cron.d/x', '../../home/u/.bashrc', 'world/../../x', '..', 'a//b', 'a/', './a', 'a/./b', '/']) {
      expect([p, backupManifestSchema.safeParse(manifest(p)).success]).toEqual([p, false]);
    }
  });
});
