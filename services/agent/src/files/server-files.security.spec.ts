import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack, type Headers } from 'tar-stream';
import { compress, decompress, MAX_DEPTH } from './server-archives';
import { DiskQuotas } from './disk-quota';
import { FileTransfers } from './file-transfers';
import { fsCommandHandlers } from './fs-commands';
import { ServerFiles } from './server-files';
import { MAX_LIST_NAMES } from './server-jail';

/*
 * Attacks on the file manager's jail (issue 11 review): archives that grow, change between the two
 * passes or replace directories; links to the server's root; names that are not UTF-8; FIFOs and
 * devices the server's process plants (opening one is an action: a watchdog device reboots the host);
 * trees deeper than the agent has descriptors; hard links swapped in where the agent chowns.
 */

async function tar(entries: { header: Headers; body?: string | Buffer }[]): Promise<Buffer> {
  const t = pack();
  const chunks: Buffer[] = [];
  t.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => t.on('end', resolve));
  for (const e of entries) await new Promise<void>((resolve, reject) => t.entry(e.header, e.body ?? '', (err) => (err ? reject(err) : resolve())));
  t.finalize();
  await done;
  return Buffer.concat(chunks);
}

const codeOf = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => `${e.code}${e.details?.reason ? `:${e.details.reason}` : ''}`);

/** A process blocked opening `fifo` for writing: it wakes the moment anyone opens the FIFO for reading. */
async function blockedWriter(cwd: string): Promise<{ child: ChildProcess; stillBlocked: () => boolean }> {
  const child = spawn('sh', ['-c', 'exec 3>fifo; exec sleep 600'], { cwd, stdio: 'ignore' });
  // /proc/<pid>/syscall: the syscall a sleeping task is in (257 openat on x86-64, 56 on arm64); stat field 3 its state.
  const blockedInOpen = () => {
    try {
      const call = readFileSync(`/proc/${child.pid}/syscall`, 'utf8').split(' ')[0];
      const state = readFileSync(`/proc/${child.pid}/stat`, 'utf8').replace(/^.*\) /, '')[0];
      return state === 'S' && (call === '257' || call === '56' || call === '2');
    } catch {
      return false;
    }
  };
  const until = Date.now() + 5000;
  while (!blockedInOpen()) {
    if (Date.now() > until) throw new Error('the writer never blocked in open(fifo)');
    await new Promise((r) => setTimeout(r, 10));
  }
  return { child, stillBlocked: blockedInOpen };
}

describe('ServerFiles under attack (real directory)', () => {
  let base: string;
  let root: string;
  let outside: string;
  let files: ServerFiles;

  beforeEach(async () => {
    base = mkdtempSync(join(tmpdir(), 'encedeus-jail-sec-'));
    root = join(base, 'server');
    outside = join(base, 'outside');
    mkdirSync(root, { mode: 0o700 });
    chmodSync(root, 0o700);
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), 'top secret');
    files = await ServerFiles.open(root);
  });

  // GNU rm walks by fd: the deep trees below are beyond PATH_MAX and Node's own rm.
  afterEach(() => execFileSync('rm', ['-rf', base]));

  it('refuses an archive that expands past the byte cap and writes nothing', async () => {
    writeFileSync(join(root, 'bomb.tar.gz'), gzipSync(await tar([{ header: { name: 'small.txt' }, body: 'x' }, { header: { name: 'big.bin' }, body: Buffer.alloc(2 * 1024 * 1024) }])));

    const code = await codeOf(decompress(files.serverJail, '/bomb.tar.gz', { maxBytes: 1024 * 1024 }));

    expect(code).toBe('PAYLOAD_TOO_LARGE:archive_too_large');
    expect(existsSync(join(root, 'small.txt'))).toBe(false);
    expect(existsSync(join(root, 'big.bin'))).toBe(false);
  });

  it('stops gunzipping a bomb of nothing but padding', async () => {
    // 64 MiB of zero blocks: no entry at all, so no header declares a size to refuse.
    writeFileSync(join(root, 'zeros.tar.gz'), gzipSync(Buffer.alloc(64 * 1024 * 1024)));

    const code = await codeOf(decompress(files.serverJail, '/zeros.tar.gz', { maxBytes: 1024 * 1024 }));

    expect(code).toBe('PAYLOAD_TOO_LARGE:archive_too_large');
  });

  it('acts only on what it checked while the server rewrites the archive between the two passes', async () => {
    // Version a passes the checks; version b has the same entry name but is over the byte cap, or a hard link out.
    writeFileSync(join(base, 'a.tar'), await tar([{ header: { name: 'x' }, body: 'x' }]));
    writeFileSync(join(base, 'b.tar'), await tar([{ header: { name: 'x' }, body: Buffer.alloc(2 * 1024 * 1024) }]));
    writeFileSync(join(base, 'c.tar'), await tar([{ header: { name: 'x', type: 'link', linkname: '../../outside/secret.txt' } }]));
    // In place (truncate and rewrite one inode) and by rename, as fast as a process can.
    const swap = `const fs = require('fs'); const v = ['a', 'b', 'c'].map((n) => fs.readFileSync('${base}/' + n + '.tar'));
      for (let i = 0; ; i++) { fs.writeFileSync('s.tar', v[i % 3]); fs.writeFileSync('t.tmp', v[(i + 1) % 3]); fs.renameSync('t.tmp', 's.tar'); }`;
    const swapper = spawn(process.execPath, ['-e', swap], { cwd: root, stdio: 'ignore' });
    const codes = new Set<string>();
    let biggest = 0;
    try {
      const until = Date.now() + 2000;
      while (Date.now() < until) {
        codes.add(await codeOf(decompress(files.serverJail, '/s.tar', { maxBytes: 1024 * 1024 })));
        if (existsSync(join(root, 'x'))) biggest = Math.max(biggest, lstatSync(join(root, 'x')).size);
      }
    } finally {
      swapper.kill('SIGKILL');
    }

    expect(biggest).toBeLessThanOrEqual(1);
    expect([...codes].filter((c) => !['ok', 'BAD_REQUEST:unsafe_archive', 'PAYLOAD_TOO_LARGE:archive_too_large', 'CONFLICT', 'NOT_FOUND', 'BAD_REQUEST:not_an_archive'].includes(c))).toEqual([]);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('top secret');
  });

  it('does not delete a directory to put an archived link in its place (that needs files.delete)', async () => {
    mkdirSync(join(root, 'world'));
    writeFileSync(join(root, 'world/level.dat'), 'level');
    writeFileSync(join(root, 'keep.txt'), 'keep');
    writeFileSync(join(root, 'sym.tar'), await tar([{ header: { name: 'world', type: 'symlink', linkname: 'keep.txt' } }]));
    writeFileSync(join(root, 'hard.tar'), await tar([{ header: { name: 'world', type: 'link', linkname: 'keep.txt' } }]));

    expect(await codeOf(decompress(files.serverJail, '/sym.tar'))).toBe('ALREADY_EXISTS');
    expect(await codeOf(decompress(files.serverJail, '/hard.tar'))).toBe('ALREADY_EXISTS');

    expect(readFileSync(join(root, 'world/level.dat'), 'utf8')).toBe('level');
  });

  it("never chmods the server's root through an archived link to it", async () => {
    writeFileSync(join(root, 'up.tar'), await tar([{ header: { name: 'up', type: 'symlink', linkname: '.' } }, { header: { name: 'up/', type: 'directory', mode: 0o777 } }]));

    await codeOf(decompress(files.serverJail, '/up.tar'));

    expect(statSync(root).mode & 0o777).toBe(0o700);
  });

  it('deletes a directory holding a name that is not UTF-8 (the server process made it)', async () => {
    mkdirSync(join(root, 'logs'));
    writeFileSync(Buffer.concat([Buffer.from(join(root, 'logs/')), Buffer.from([0x61, 0xff, 0xfe])]), 'x');

    expect(await files.delete(['/logs'])).toEqual({ deleted: 1 });
    expect(existsSync(join(root, 'logs'))).toBe(false);
  });

  it('never opens a FIFO the server planted, for chmod or compress', async () => {
    execFileSync('mkfifo', [join(root, 'fifo')]);
    const writer = await blockedWriter(root);
    try {
      await files.chmod('/fifo', '600');
      await compress(files.serverJail, ['/fifo'], 'f.tar.gz');

      expect(writer.stillBlocked()).toBe(true);
      expect(lstatSync(join(root, 'fifo')).mode & 0o777).toBe(0o600);
    } finally {
      writer.child.kill('SIGKILL');
    }
  });

  it('refuses a tree deeper than MAX_DEPTH for compress and delete instead of running out of descriptors', async () => {
    // The server's process nests directories far below PATH_MAX, one chdir at a time.
    const made = spawnSync(process.execPath, ['-e', `process.chdir(${JSON.stringify(root)}); for (let i = 0; i < 12000; i++) { require('fs').mkdirSync('d'); process.chdir('d'); }`]);
    expect(made.status).toBe(0);

    expect(await codeOf(compress(files.serverJail, ['/d'], 'deep.tar.gz'))).toBe('PAYLOAD_TOO_LARGE:too_deep');
    expect(await codeOf(files.delete(['/d']))).toBe('PAYLOAD_TOO_LARGE:too_deep');
    expect(existsSync(join(root, 'deep.tar.gz'))).toBe(false);
    expect(MAX_DEPTH).toBeLessThan(1000);
  }, 180_000);

  it('does not hand a hard-linked file of someone else to the server when it owns what it creates', async () => {
    // Emulates the race of `mkdir` then `chown`: the name already is a hard link to a file outside the jail.
    execFileSync('chown', ['4242:4242', root]);
    const jail = (await ServerFiles.open(root)).serverJail;
    linkSync(join(outside, 'secret.txt'), join(root, 'planted'));
    const before = statSync(join(outside, 'secret.txt')).uid;

    await jail.own(join(root, 'planted')).catch(() => undefined);

    expect(statSync(join(outside, 'secret.txt')).uid).toBe(before);
  });

  it("never reads, writes, chmods or archives a hard link to a file the server does not own (protected_hardlinks off)", async () => {
    execFileSync('chown', ['4242:4242', root]);
    const jailed = await ServerFiles.open(root);
    // What the server's process could make on a host with fs.protected_hardlinks=0.
    linkSync(join(outside, 'secret.txt'), join(root, 'shadow'));

    expect(await codeOf(jailed.contents('/shadow'))).toBe('BAD_REQUEST:foreign_link');
    expect(await codeOf(jailed.copy('/shadow'))).toBe('BAD_REQUEST:foreign_link');
    expect(await codeOf(jailed.write('/shadow', Buffer.from('pwned').toString('base64')))).toBe('BAD_REQUEST:foreign_link');
    expect(await codeOf(jailed.chmod('/shadow', '777'))).toBe('BAD_REQUEST:foreign_link');
    await compress(jailed.serverJail, ['/shadow'], 's.tar.gz');
    writeFileSync(join(root, 'relink.tar'), await tar([{ header: { name: 'again', type: 'link', linkname: 'shadow' } }]));
    expect(await codeOf(decompress(jailed.serverJail, '/relink.tar'))).toBe('BAD_REQUEST:foreign_link');

    expect(execFileSync('tar', ['-tzf', join(root, 's.tar.gz')], { encoding: 'utf8' })).not.toContain('shadow');
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('top secret');
    expect(statSync(join(outside, 'secret.txt')).mode & 0o777).toBe(0o644);
  });

  it('answers only typed errors while the server flips a name between a link, a file and a directory', async () => {
    mkdirSync(join(root, 'real'));
    writeFileSync(join(root, 'real/f'), 'x');
    const flip = `const fs = require('fs'); const t = (f) => { try { f(); } catch {} };
      for (;;) { t(() => fs.symlinkSync('real', 'flip')); t(() => fs.unlinkSync('flip')); t(() => fs.writeFileSync('flip', '')); t(() => fs.unlinkSync('flip')); t(() => fs.mkdirSync('flip')); t(() => fs.rmdirSync('flip')); }`;
    const flipper = spawn(process.execPath, ['-e', flip], { cwd: root, stdio: 'ignore' });
    const untyped = new Map<string, string>();
    const note = (p: Promise<unknown>) =>
      p.catch((e) => {
        if (!/^[A-Z_]+$/.test(e.code ?? '') || e.code.startsWith('E')) untyped.set(String(e.code), String(e.message));
      });
    try {
      const until = Date.now() + 4000;
      while (Date.now() < until) {
        await note(files.contents('flip/f'));
        await note(files.write('flip/new/x', 'eA=='));
        await note(files.write('flip', 'eA=='));
        await note(files.chmod('flip', '700'));
        await note(files.list('flip', 10));
        await note(files.mkdir('flip/a/b'));
        await note(files.delete(['flip']));
        await note(files.copy('flip'));
        await note(compress(files.serverJail, ['/flip'], 'c.tar.gz').then(() => files.delete(['/c.tar.gz'])));
      }
    } finally {
      flipper.kill('SIGKILL');
    }

    expect([...untyped]).toEqual([]);
  }, 30_000);

  it('stops reading a directory with more names than a listing may hold', async () => {
    mkdirSync(join(root, 'many'));
    for (let i = 0; i < 6; i++) writeFileSync(join(root, `many/${i}`), '');

    const code = await codeOf(files.serverJail.names(['many'], 5).then(({ dir }) => dir.handle.close()));

    expect(code).toBe('PAYLOAD_TOO_LARGE:too_many_entries');
    expect(MAX_LIST_NAMES).toBeLessThanOrEqual(1_000_000);
  });

  it('runs one archive job per server at a time (a caller that timed out leaves its job running)', async () => {
    const id = '6f1d2c1e-93a5-4a57-9d0e-0d6c3a1b2c3d';
    const handlers = fsCommandHandlers((serverId) => (serverId === id ? root : undefined), {
      quotas: new DiskQuotas({ limitMb: () => 0, dir: () => root }),
      transfers: new FileTransfers('node'),
    });
    mkdirSync(join(root, 'world'));
    writeFileSync(join(root, 'world/level.dat'), Buffer.alloc(4 * 1024 * 1024, 7));

    const first = handlers['fs.compress']({ server_id: id, paths: ['/world'], name: 'a.tar.gz' });
    const second = await codeOf(handlers['fs.compress']({ server_id: id, paths: ['/world'], name: 'b.tar.gz' }) as Promise<unknown>);
    await first;
    const third = await codeOf(handlers['fs.decompress']({ server_id: id, path: '/a.tar.gz' }) as Promise<unknown>);

    expect(second).toBe('CONFLICT:busy');
    expect(existsSync(join(root, 'b.tar.gz'))).toBe(false);
    expect(third).toBe('ok');
  });

  it('does not build a tree deeper than delete walks, through write, mkdir or an in-jail link', async () => {
    // 255 levels exist already (each call creates at most 40 missing parents, so a user gets there in steps).
    const deep = 'a/'.repeat(255);
    mkdirSync(join(root, deep), { recursive: true });
    mkdirSync(join(root, 'b/'.repeat(250)), { recursive: true });
    symlinkSync('b/'.repeat(250), join(root, 'l'));

    expect(await codeOf(files.write(`${deep}z/x`, 'eA=='))).toBe('PAYLOAD_TOO_LARGE:too_deep');
    expect(await codeOf(files.mkdir(`${deep}z`))).toBe('PAYLOAD_TOO_LARGE:too_deep');
    expect(await codeOf(files.mkdir(`l/${'c/'.repeat(10)}`))).toBe('PAYLOAD_TOO_LARGE:too_deep');
    expect(await files.write(`${deep}x`, 'eA==')).toEqual({ size: 1 });
    expect(await files.delete(['/a', '/b', '/l'])).toEqual({ deleted: 3 });
    expect(MAX_DEPTH).toBe(256);
  });

  it('holds for look-alike and odd names: fullwidth dots, NFD, trailing slashes, empty and . segments', async () => {
    await files.write('/\uFF0E\uFF0E/x', Buffer.from('in').toString('base64'));
    await files.write('/cafe\u0301.txt/', Buffer.from('nfd').toString('base64'));
    await files.write('//./sub//./y', Buffer.from('y').toString('base64'));

    expect(readFileSync(join(root, '\uFF0E\uFF0E/x'), 'utf8')).toBe('in');
    expect(readFileSync(join(root, 'cafe\u0301.txt'), 'utf8')).toBe('nfd');
    expect(existsSync(join(root, 'caf\u00e9.txt'))).toBe(false);
    expect(readFileSync(join(root, 'sub/y'), 'utf8')).toBe('y');
    expect(await codeOf(files.delete(['/./', '//']))).toBe('BAD_REQUEST:root');
    expect(await codeOf(files.contents('sub/./../../outside/secret.txt'))).toBe('BAD_REQUEST:traversal');
  });

  it('refuses to compress or copy a sparse file larger than the cap before reading a byte of it', async () => {
    // 9 GiB that take no disk: gzip would run for minutes and write gigabytes; copy would write 9 GiB.
    execFileSync('truncate', ['-s', '9G', join(root, 'sparse.img')]);
    writeFileSync(join(root, 'small.txt'), 'x');

    expect(await codeOf(compress(files.serverJail, ['/sparse.img', '/small.txt'], 's.tar.gz'))).toBe('PAYLOAD_TOO_LARGE:archive_too_large');
    expect(await codeOf(compress(files.serverJail, ['/small.txt'], 'ok.tar.gz', { maxBytes: 1 }))).toBe('ok');
    expect(await codeOf(files.copy('/sparse.img'))).toBe('PAYLOAD_TOO_LARGE:too_large');

    expect(existsSync(join(root, 's.tar.gz'))).toBe(false);
    expect(existsSync(join(root, 'sparse copy.img'))).toBe(false);
  }, 20_000);

  it('never sets setuid, setgid or sticky bits: chmod refuses them and extraction drops them', async () => {
    writeFileSync(join(root, 'tool'), '#!/bin/sh\n');
    writeFileSync(join(root, 'suid.tar'), await tar([{ header: { name: 'bin/', type: 'directory', mode: 0o7777 } }, { header: { name: 'bin/su', mode: 0o6755 }, body: '#!/bin/sh\n' }]));

    expect(await codeOf(files.chmod('/tool', '4755'))).toBe('VALIDATION_FAILED');
    expect(await codeOf(files.chmod('/tool', 0o4755))).toBe('VALIDATION_FAILED');
    expect(await codeOf(files.chmod('/tool', 0o1777))).toBe('VALIDATION_FAILED');
    expect(await decompress(files.serverJail, '/suid.tar')).toEqual({ entries: 2 });

    expect(statSync(join(root, 'tool')).mode & 0o7000).toBe(0);
    expect(statSync(join(root, 'bin/su')).mode & 0o7777).toBe(0o755);
    expect(statSync(join(root, 'bin')).mode & 0o7000).toBe(0);
  });
});
