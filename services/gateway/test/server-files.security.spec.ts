import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack, type Headers } from 'tar-stream';
import { AGENT_SECRET, as, startFilesWorld, type FilesWorld } from './server-files-fixture';

/** A tar.gz built entry by entry, hostile names and link targets kept exactly as given. */
async function tarGz(entries: { header: Headers; body?: string }[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((resolve) => tar.on('end', resolve));
  for (const e of entries) await new Promise<void>((resolve, reject) => tar.entry(e.header, e.body ?? '', (err) => (err ? reject(err) : resolve())));
  tar.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks));
}

/**
 * Issue 11: the file manager's jail on the real stack. The symlinks are planted by the server's own
 * process (PLANTING_STARTUP) as its uid, absolute and relative, to a file and to a directory; their
 * targets are the host's /etc and a secret in the agent's data directory (beside its NATS credentials).
 */
describe('server files (security)', () => {
  let world: FilesWorld;
  let server: { id: string; dir: string };
  let secret: string;
  let secretMode: number;
  let hostname: { text: string; mode: number };

  beforeAll(async () => {
    world = await startFilesWorld();
    server = await world.server('files-sec');
    secret = join(world.agent.dataDir, AGENT_SECRET.name);
    secretMode = statSync(secret).mode;
    hostname = { text: readFileSync('/etc/hostname', 'utf8'), mode: statSync('/etc/hostname').mode };
    // The server's process planted its links before it said it was ready.
    for (const link of ['abs-dir', 'abs-file', 'rel-dir', 'rel-file', 'nested/deep-file']) expect([link, lstatSync(join(server.dir, link)).isSymbolicLink()]).toEqual([link, true]);
  }, 180_000);

  afterAll(async () => {
    await world?.stack.stop();
  });

  const files = (verb: string, id = server.id) => `/api/v1/servers/${id}/files/${verb}`;
  const http = () => world.stack.http();
  const admin = () => as(world.admin);

  /** Every verb with `path` in the place a client controls. */
  const attempts = (path: string) => [
    { verb: 'list', run: () => http().get(files('list')).query({ path }).set('Authorization', admin()) },
    { verb: 'contents', run: () => http().get(files('contents')).query({ path }).set('Authorization', admin()) },
    { verb: 'write', run: () => http().put(files('write')).query({ path }).set('Authorization', admin()).set('Content-Type', 'text/plain').send('pwned') },
    { verb: 'rename from', run: () => http().post(files('rename')).set('Authorization', admin()).send({ from: path, to: '/stolen' }) },
    { verb: 'rename to', run: () => http().post(files('rename')).set('Authorization', admin()).send({ from: '/bait.txt', to: path }) },
    { verb: 'copy', run: () => http().post(files('copy')).set('Authorization', admin()).send({ path }) },
    { verb: 'delete', run: () => http().post(files('delete')).set('Authorization', admin()).send({ paths: [path] }) },
    { verb: 'mkdir', run: () => http().post(files('mkdir')).set('Authorization', admin()).send({ path }) },
    { verb: 'chmod', run: () => http().post(files('chmod')).set('Authorization', admin()).send({ path, mode: '777' }) },
    { verb: 'compress', run: () => http().post(files('compress')).set('Authorization', admin()).send({ paths: [path] }) },
    { verb: 'decompress', run: () => http().post(files('decompress')).set('Authorization', admin()).send({ path }) },
  ];

  const hostUnchanged = () => {
    expect(readFileSync(secret, 'utf8')).toBe(AGENT_SECRET.text);
    expect(statSync(secret).mode).toBe(secretMode);
    expect(readFileSync('/etc/hostname', 'utf8') === hostname.text).toBe(true);
    expect(statSync('/etc/hostname').mode).toBe(hostname.mode);
    expect(existsSync(join(world.agent.dataDir, 'stolen'))).toBe(false);
    expect(existsSync('/etc/pwned')).toBe(false);
  };

  beforeEach(async () => {
    await http().put(files('write')).query({ path: '/bait.txt' }).set('Authorization', admin()).set('Content-Type', 'text/plain').send('bait');
  });

  it('refuses .. and NUL on every verb with 400 { error, code }', async () => {
    const seen: string[] = [];
    for (const path of ['../agent-secret.txt', '/../../agent-secret.txt', 'nested/../../x', '..', 'a\0b', 'bait.txt\0/../../agent-secret.txt']) {
      for (const a of attempts(path)) {
        const res = await a.run();
        seen.push(`${a.verb} ${JSON.stringify(path)} → ${res.status} ${res.body?.code}`);
        expect([a.verb, path, res.status, res.body?.code]).toEqual([a.verb, path, 400, 'BAD_REQUEST']);
      }
    }
    expect(seen.length).toBe(66);
    hostUnchanged();
  }, 60_000);

  it('treats absolute paths as inside the server directory: /etc/hostname is not the host file', async () => {
    const read = await http().get(files('contents')).query({ path: '/etc/hostname' }).set('Authorization', admin());
    expect([read.status, read.body.code]).toEqual([404, 'NOT_FOUND']);
    const write = await http().put(files('write')).query({ path: '/etc/pwned' }).set('Authorization', admin()).set('Content-Type', 'text/plain').send('x');
    expect(write.status).toBe(200);
    expect(existsSync(join(server.dir, 'etc/pwned'))).toBe(true);
    hostUnchanged();
  }, 30_000);

  it('refuses archives with ../ entries, absolute names and links pointing out, writing nothing', async () => {
    const cases: [string, { header: Headers; body?: string }[]][] = [
      ['dotdot', [{ header: { name: 'first.txt' }, body: 'x' }, { header: { name: '../../stolen' }, body: 'pwned' }]],
      ['absolute', [{ header: { name: '/etc/pwned' }, body: 'pwned' }]],
      ['symlink-abs', [{ header: { name: 'evil', type: 'symlink', linkname: '/etc' } }, { header: { name: 'evil/pwned' }, body: 'pwned' }]],
      ['symlink-rel', [{ header: { name: 'evil', type: 'symlink', linkname: '../../' } }, { header: { name: 'evil/stolen' }, body: 'pwned' }]],
      ['hardlink-out', [{ header: { name: 'hl', type: 'link', linkname: '/etc/hostname' } }]],
      ['hardlink-dotdot', [{ header: { name: 'hl', type: 'link', linkname: '../../agent-secret.txt' } }]],
    ];
    for (const [label, entries] of cases) {
      const upload = await http().put(files('write')).query({ path: `/${label}.tar.gz` }).set('Authorization', admin()).set('Content-Type', 'application/gzip').send(await tarGz(entries));
      expect(upload.status).toBe(200);
      const res = await http().post(files('decompress')).set('Authorization', admin()).send({ path: `/${label}.tar.gz` });
      expect([label, res.status, res.body.code, res.body.details?.reason]).toEqual([label, 400, 'BAD_REQUEST', 'unsafe_archive']);
    }
    // An archive whose entries go through a link the server planted: refused when it gets there.
    await http().put(files('write')).query({ path: '/through.tar.gz' }).set('Authorization', admin()).set('Content-Type', 'application/gzip').send(await tarGz([{ header: { name: 'abs-dir/pwned' }, body: 'pwned' }]));
    const through = await http().post(files('decompress')).set('Authorization', admin()).send({ path: '/through.tar.gz' });
    expect([through.status, through.body.details?.reason]).toEqual([400, 'symlink_escape']);
    expect(existsSync(join(server.dir, 'first.txt'))).toBe(false);
    expect(existsSync(join(server.dir, 'evil'))).toBe(false);
    hostUnchanged();
  }, 60_000);

  it('never goes through a directory symlink the server planted out of its directory, relative or absolute, on any verb', async () => {
    for (const path of ['abs-dir/hostname', 'rel-dir/agent-secret.txt', 'abs-dir/newdir/x', 'rel-dir/stolen']) {
      for (const a of attempts(path)) {
        const res = await a.run();
        expect([a.verb, path, res.status, res.body?.code, res.body?.details?.reason]).toEqual([a.verb, path, 400, 'BAD_REQUEST', 'symlink_escape']);
      }
    }
    hostUnchanged();
  }, 60_000);

  it('never follows a planted symlink as the last component; acting on the link itself touches only the link', async () => {
    const follows = (path: string) => attempts(path).filter((a) => ['contents', 'write', 'copy', 'chmod', 'decompress'].includes(a.verb));
    for (const path of ['abs-file', 'rel-file', 'nested/deep-file']) {
      for (const a of follows(path)) {
        const res = await a.run();
        expect([a.verb, path, res.status, res.body?.details?.reason]).toEqual([a.verb, path, 400, 'symlink_escape']);
      }
    }
    for (const path of ['abs-dir', 'rel-dir']) {
      const res = await attempts(path)[0].run();
      expect(['list', path, res.status, res.body?.details?.reason]).toEqual(['list', path, 400, 'symlink_escape']);
    }
    hostUnchanged();

    // An archive of the links holds links, not the files they point at.
    const compressed = await http().post(files('compress')).set('Authorization', admin()).send({ paths: ['abs-file', 'rel-file', 'abs-dir', 'rel-dir'], name: 'links.tar.gz' });
    expect(compressed.status).toBe(200);
    const archive = await http().get(files('contents')).query({ path: 'links.tar.gz' }).set('Authorization', admin()).buffer(true).parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    });
    const { gunzipSync } = await import('node:zlib');
    const tar = gunzipSync(archive.body as Buffer).toString('latin1');
    expect(tar).not.toContain(AGENT_SECRET.text);
    expect(tar).toContain('../../agent-secret.txt');

    // Renaming and deleting a link act on the link: the host file stays.
    expect((await http().post(files('rename')).set('Authorization', admin()).send({ from: 'rel-file', to: 'renamed-link' })).status).toBe(200);
    expect(lstatSync(join(server.dir, 'renamed-link')).isSymbolicLink()).toBe(true);
    const del = await http().post(files('delete')).set('Authorization', admin()).send({ paths: ['abs-file', 'renamed-link', 'abs-dir', 'rel-dir', 'nested'] });
    expect([del.status, del.body]).toEqual([200, { deleted: 5 }]);
    expect(existsSync(join(server.dir, 'abs-dir'))).toBe(false);
    expect(readdirSync('/etc').length).toBeGreaterThan(5);
    hostUnchanged();
  }, 60_000);

  it('refuses writing to an owner without files.write (403), and reading and deleting likewise', async () => {
    const reader = await world.userWith('reader', ['files.read']);
    const own = await world.server('readers-server', reader.id);
    const write = await http().put(files('write', own.id)).query({ path: 'x.txt' }).set('Authorization', as(reader.token)).set('Content-Type', 'text/plain').send('x');
    expect([write.status, write.body.code, write.body.details?.missing]).toEqual([403, 'FORBIDDEN', ['files.write']]);
    expect(existsSync(join(own.dir, 'x.txt'))).toBe(false);
    const list = await http().get(files('list', own.id)).query({ path: '/' }).set('Authorization', as(reader.token));
    expect(list.status).toBe(200);
    for (const [verb, body, missing] of [
      ['mkdir', { path: 'd' }, 'files.write'],
      ['rename', { from: 'abs-dir', to: 'y' }, 'files.write'],
      ['chmod', { path: 'nested', mode: '777' }, 'files.write'],
      ['delete', { paths: ['nested'] }, 'files.delete'],
      ['compress', { paths: ['nested'] }, 'files.archive'],
    ] as const) {
      const res = await http().post(files(verb, own.id)).set('Authorization', as(reader.token)).send(body);
      expect([verb, res.status, res.body.details?.missing]).toEqual([verb, 403, expect.arrayContaining([missing])]);
    }
    expect(existsSync(join(own.dir, 'nested'))).toBe(true);
  }, 120_000);

  it("answers 404 for another user's server, whatever files permissions the caller holds", async () => {
    const mallory = await world.userWith('mallory', ['files.read', 'files.write', 'files.delete', 'files.archive', 'servers.create']);
    const bearer = as(mallory.token);
    const results = [
      await http().get(files('list')).query({ path: '/' }).set('Authorization', bearer),
      await http().get(files('contents')).query({ path: 'bait.txt' }).set('Authorization', bearer),
      await http().put(files('write')).query({ path: 'bait.txt' }).set('Authorization', bearer).set('Content-Type', 'text/plain').send('mallory'),
      await http().post(files('delete')).set('Authorization', bearer).send({ paths: ['bait.txt'] }),
      await http().post(files('decompress')).set('Authorization', bearer).send({ path: 'x.tar.gz' }),
    ];
    expect(results.map((r) => [r.status, r.body.code])).toEqual(results.map(() => [404, 'NOT_FOUND']));
    expect(readFileSync(join(server.dir, 'bait.txt'), 'utf8')).toBe('bait');
    const noAuth = await http().get(files('list')).query({ path: '/' });
    expect(noAuth.status).toBe(401);
    const badId = await http().get('/api/v1/servers/not-a-uuid/files/list').set('Authorization', admin());
    expect(badId.status).toBe(422);
  }, 60_000);
});
