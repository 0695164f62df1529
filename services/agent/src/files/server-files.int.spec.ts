import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack, type Headers } from 'tar-stream';
import { compress, decompress } from './server-archives';
import { ServerFiles } from './server-files';

/** A tar.gz built entry by entry (names and link targets exactly as given: hostile ones too). */
async function tarGz(entries: { header: Headers; body?: string }[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => tar.on('end', resolve));
  for (const e of entries) await new Promise<void>((resolve, reject) => tar.entry(e.header, e.body ?? '', (err) => (err ? reject(err) : resolve())));
  tar.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

const codeOf = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => `${e.code}${e.details?.reason ? `:${e.details.reason}` : ''}`);

describe('ServerFiles on a real directory', () => {
  let base: string;
  let root: string;
  let outside: string;
  let files: ServerFiles;

  beforeEach(async () => {
    base = mkdtempSync(join(tmpdir(), 'encedeus-jail-'));
    root = join(base, 'server');
    outside = join(base, 'outside');
    mkdirSync(root);
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), 'top secret');
    files = await ServerFiles.open(root);
  });

  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('writes, reads, lists, copies, renames, chmods and deletes', async () => {
    await files.write('/config/server.properties', Buffer.from('motd=hi').toString('base64'));
    expect(Buffer.from((await files.contents('config/server.properties')).data, 'base64').toString()).toBe('motd=hi');
    await files.mkdir('/plugins');
    expect(await files.copy('/config/server.properties')).toEqual({ name: '/config/server copy.properties' });
    await files.rename('/config/server copy.properties', '/plugins/moved.properties');
    await files.chmod('/plugins/moved.properties', '600');
    expect(statSync(join(root, 'plugins/moved.properties')).mode & 0o777).toBe(0o600);
    const listing = await files.list('/', 50);
    expect(listing.items.map((i) => [i.name, i.type])).toEqual([['config', 'directory'], ['plugins', 'directory']]);
    expect(await files.delete(['/plugins', '/nope'])).toEqual({ deleted: 1 });
    expect(existsSync(join(root, 'plugins'))).toBe(false);
  });

  it('pages through a big directory with no cap', async () => {
    for (let i = 0; i < 600; i++) writeFileSync(join(root, `f${String(i).padStart(4, '0')}`), '');
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await files.list('/', 250, cursor);
      seen.push(...page.items.map((i) => i.name));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toHaveLength(600);
    expect(new Set(seen).size).toBe(600);
  });

  it('follows symlinks that stay inside and refuses those that leave, on every verb', async () => {
    mkdirSync(join(root, 'data'));
    writeFileSync(join(root, 'data/in.txt'), 'inside');
    symlinkSync('data/in.txt', join(root, 'inside-link'));
    symlinkSync(outside, join(root, 'abs-out'));
    symlinkSync('../outside', join(root, 'rel-out'));
    symlinkSync(join(outside, 'secret.txt'), join(root, 'secret-link'));
    symlinkSync('../../outside/secret.txt', join(root, 'data/deep-out'));

    expect(Buffer.from((await files.contents('inside-link')).data, 'base64').toString()).toBe('inside');
    for (const p of ['abs-out/secret.txt', 'rel-out/secret.txt', 'secret-link', 'data/deep-out']) {
      expect([p, await codeOf(files.contents(p))]).toEqual([p, 'BAD_REQUEST:symlink_escape']);
      expect([p, await codeOf(files.write(p, Buffer.from('pwned').toString('base64')))]).toEqual([p, 'BAD_REQUEST:symlink_escape']);
      expect([p, await codeOf(files.chmod(p, '777'))]).toEqual([p, 'BAD_REQUEST:symlink_escape']);
    }
    expect(await codeOf(files.list('abs-out', 10))).toBe('BAD_REQUEST:symlink_escape');
    expect(await codeOf(files.list('rel-out', 10))).toBe('BAD_REQUEST:symlink_escape');
    expect(await codeOf(files.rename('abs-out/secret.txt', 'stolen.txt'))).toBe('BAD_REQUEST:symlink_escape');
    expect(await codeOf(files.rename('data/in.txt', 'rel-out/planted.txt'))).toBe('BAD_REQUEST:symlink_escape');
    expect(await codeOf(files.delete(['rel-out/secret.txt']))).toBe('BAD_REQUEST:symlink_escape');
    expect(await codeOf(files.mkdir('abs-out/newdir'))).toBe('BAD_REQUEST:symlink_escape');
    expect(await codeOf(files.copy('secret-link'))).toBe('BAD_REQUEST:symlink_escape');
    // Deleting the link removes the link, never what it points at.
    expect(await files.delete(['abs-out', 'secret-link'])).toEqual({ deleted: 2 });
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('top secret');
    expect(statSync(join(outside, 'secret.txt')).mode & 0o777).not.toBe(0o777);
    expect(existsSync(join(outside, 'planted.txt'))).toBe(false);
  });

  it('refuses .., NUL and the root; absolute paths are under the server directory', async () => {
    expect(await codeOf(files.contents('../outside/secret.txt'))).toBe('BAD_REQUEST:traversal');
    expect(await codeOf(files.contents('a\0b'))).toBe('BAD_REQUEST:nul');
    expect(await codeOf(files.delete(['/']))).toBe('BAD_REQUEST:root');
    expect(await codeOf(files.contents(join(outside, 'secret.txt')))).toBe('NOT_FOUND');
  });

  it('compresses without following symlinks and extracts the result', async () => {
    mkdirSync(join(root, 'world'));
    writeFileSync(join(root, 'world/level.dat'), 'level');
    writeFileSync(join(root, 'world/empty'), '');
    symlinkSync(outside, join(root, 'world/out'));
    const { name } = await compress(files.serverJail, ['/world'], 'w.tar.gz');
    expect(name).toBe('/w.tar.gz');
    const listed = execFileSync('tar', ['-tzvf', join(root, 'w.tar.gz')], { encoding: 'utf8' });
    expect(listed).toContain('world/level.dat');
    expect(listed).toContain('world/out -> ');
    expect(listed).not.toContain('secret');
    rmSync(join(root, 'world'), { recursive: true });
    // The archive holds a symlink to outside: extraction refuses the whole archive.
    expect(await codeOf(decompress(files.serverJail, '/w.tar.gz'))).toBe('BAD_REQUEST:unsafe_archive');
    writeFileSync(join(root, 'ok.tar.gz'), await tarGz([{ header: { name: 'world/', type: 'directory' } }, { header: { name: 'world/level.dat', type: 'file' }, body: 'level' }, { header: { name: 'world/l', type: 'symlink', linkname: 'level.dat' } }]));
    expect(await decompress(files.serverJail, '/ok.tar.gz')).toEqual({ entries: 3 });
    expect(readFileSync(join(root, 'world/level.dat'), 'utf8')).toBe('level');
    expect(readlinkSync(join(root, 'world/l'))).toBe('level.dat');
  });

  it('refuses archives with ../ or absolute entries and links pointing out, writing nothing', async () => {
    const cases: [string, { header: Headers; body?: string }[]][] = [
      ['dotdot', [{ header: { name: 'ok.txt' }, body: 'x' }, { header: { name: '../../outside/planted.txt' }, body: 'pwned' }]],
      ['absolute', [{ header: { name: join(outside, 'planted.txt') }, body: 'pwned' }]],
      ['symlink-out', [{ header: { name: 'evil', type: 'symlink', linkname: outside } }, { header: { name: 'evil/planted.txt' }, body: 'pwned' }]],
      ['symlink-rel-out', [{ header: { name: 'evil', type: 'symlink', linkname: '../outside' } }]],
      ['hardlink-out', [{ header: { name: 'hl', type: 'link', linkname: join(outside, 'secret.txt') } }]],
      ['hardlink-dotdot', [{ header: { name: 'hl', type: 'link', linkname: '../outside/secret.txt' } }]],
      ['device', [{ header: { name: 'dev', type: 'character-device', devmajor: 1, devminor: 3 } }]],
    ];
    for (const [label, entries] of cases) {
      writeFileSync(join(root, `${label}.tar.gz`), await tarGz(entries));
      expect([label, await codeOf(decompress(files.serverJail, `/${label}.tar.gz`))]).toEqual([label, 'BAD_REQUEST:unsafe_archive']);
    }
    expect(existsSync(join(outside, 'planted.txt'))).toBe(false);
    expect(existsSync(join(root, 'ok.txt'))).toBe(false);
    expect(existsSync(join(root, 'evil'))).toBe(false);
  });

  it('holds while the server swaps a directory for a symlink out, over and over', async () => {
    // Another process (as the server's would) races every lookup: swap is a directory, then a link to outside.
    const swapper = spawn('sh', ['-c', `while :; do rm -rf swap; mkdir swap; rm -rf swap; ln -s ${outside} swap; done`], { cwd: root, stdio: 'ignore' });
    const leaked: string[] = [];
    try {
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        await files.write('swap/planted.txt', Buffer.from('pwned').toString('base64')).catch(() => undefined);
        const read = await files.contents('swap/secret.txt').catch(() => undefined);
        if (read) leaked.push(Buffer.from(read.data, 'base64').toString());
        await files.chmod('swap/secret.txt', '777').catch(() => undefined);
        await files.delete(['swap/secret.txt']).catch(() => undefined);
        await files.rename('swap/secret.txt', 'stolen.txt').catch(() => undefined);
      }
    } finally {
      swapper.kill('SIGKILL');
    }
    expect(leaked).toEqual([]);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('top secret');
    expect(statSync(join(outside, 'secret.txt')).mode & 0o777).not.toBe(0o777);
    expect(existsSync(join(outside, 'planted.txt'))).toBe(false);
    expect(existsSync(join(root, 'stolen.txt'))).toBe(false);
  });

  it('extracts through a symlink the server planted only when it stays inside', async () => {
    symlinkSync(outside, join(root, 'world'));
    writeFileSync(join(root, 'a.tar.gz'), await tarGz([{ header: { name: 'world/planted.txt' }, body: 'pwned' }]));
    expect(await codeOf(decompress(files.serverJail, '/a.tar.gz'))).toBe('BAD_REQUEST:symlink_escape');
    expect(existsSync(join(outside, 'planted.txt'))).toBe(false);
    expect(lstatSync(join(root, 'world')).isSymbolicLink()).toBe(true);
  });
});
