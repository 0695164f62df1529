import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SERVER_FILE_TEXT_MAX_BYTES } from '@encedeus/contracts';
import { as, startFilesWorld, type FilesWorld } from './server-files-fixture';

/** Issue 11: the server file manager over REST, gateway → nodes → a real agent → the server's directory. */
describe('server files (REST round trip)', () => {
  let world: FilesWorld;
  let server: { id: string; dir: string };

  beforeAll(async () => {
    world = await startFilesWorld();
    server = await world.server('files-e2e');
  }, 180_000);

  afterAll(async () => {
    await world?.stack.stop();
  });

  const files = (verb: string) => `/api/v1/servers/${server.id}/files/${verb}`;
  const http = () => world.stack.http();
  const admin = () => as(world.admin);

  it('writes raw bodies, reads them back, lists with name, type, size, mode and modified', async () => {
    const write = await http().put(files('write')).query({ path: '/config/server.properties' }).set('Authorization', admin()).set('Content-Type', 'text/plain').send('motd=hello\n');
    expect([write.status, write.body]).toEqual([200, { size: 11 }]);
    const binary = Buffer.from([0, 1, 2, 255, 254]);
    const bin = await http().put(files('write')).query({ path: 'data.bin' }).set('Authorization', admin()).set('Content-Type', 'application/octet-stream').send(binary);
    expect(bin.status).toBe(200);

    const contents = await http().get(files('contents')).query({ path: 'config/server.properties' }).set('Authorization', admin());
    expect([contents.status, contents.text, contents.headers['content-type']]).toEqual([200, 'motd=hello\n', 'text/plain; charset=utf-8']);
    expect(readFileSync(join(server.dir, 'data.bin'))).toEqual(binary);
    // Files the agent writes belong to the server's uid, like the ones its process makes.
    expect(statSync(join(server.dir, 'config/server.properties')).uid).toBe(statSync(server.dir).uid);

    const list = await http().get(files('list')).query({ path: '/' }).set('Authorization', admin());
    expect(list.status).toBe(200);
    const byName = Object.fromEntries(list.body.items.map((i: { name: string }) => [i.name, i]));
    expect(byName.config).toMatchObject({ type: 'directory', mode: expect.stringMatching(/^0[0-7]{3}$/) });
    expect(byName['data.bin']).toMatchObject({ type: 'file', size: 5, mode: '0644', modified: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(byName['abs-dir']).toMatchObject({ type: 'symlink' });
    expect(list.body.nextCursor).toBeNull();
  }, 30_000);

  it('pages a directory of 600 entries (no 250 cap)', async () => {
    const names = Array.from({ length: 600 }, (_, i) => `f${String(i).padStart(4, '0')}`);
    execFileSync('sh', ['-c', `mkdir -p many && cd many && touch ${names.join(' ')}`], { cwd: server.dir });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await http().get(files('list')).query({ path: '/many', limit: 250, ...(cursor ? { cursor } : {}) }).set('Authorization', admin());
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((i: { name: string }) => i.name));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(names);
  }, 30_000);

  it('renames, copies, makes directories, chmods and deletes', async () => {
    await http().put(files('write')).query({ path: 'a.txt' }).set('Authorization', admin()).set('Content-Type', 'text/plain').send('A');
    expect((await http().post(files('mkdir')).set('Authorization', admin()).send({ path: '/plugins/sub' })).status).toBe(201);
    expect((await http().post(files('mkdir')).set('Authorization', admin()).send({ path: '/plugins/sub' })).status).toBe(409);
    const copy = await http().post(files('copy')).set('Authorization', admin()).send({ path: 'a.txt' });
    expect([copy.status, copy.body]).toEqual([200, { name: '/a copy.txt' }]);
    const rename = await http().post(files('rename')).set('Authorization', admin()).send({ from: '/a copy.txt', to: '/plugins/sub/b.txt' });
    expect(rename.status).toBe(200);
    expect((await http().post(files('rename')).set('Authorization', admin()).send({ from: 'a.txt', to: '/plugins/sub/b.txt' })).status).toBe(409);
    expect(readFileSync(join(server.dir, 'plugins/sub/b.txt'), 'utf8')).toBe('A');
    const chmod = await http().post(files('chmod')).set('Authorization', admin()).send({ path: 'plugins/sub/b.txt', mode: '600' });
    expect(chmod.status).toBe(200);
    expect(statSync(join(server.dir, 'plugins/sub/b.txt')).mode & 0o777).toBe(0o600);
    expect((await http().post(files('chmod')).set('Authorization', admin()).send({ path: 'a.txt', mode: '4755' })).status).toBe(422);
    const del = await http().post(files('delete')).set('Authorization', admin()).send({ paths: ['/plugins', 'a.txt', 'missing'] });
    expect([del.status, del.body]).toEqual([200, { deleted: 2 }]);
    expect(existsSync(join(server.dir, 'plugins'))).toBe(false);
    expect((await http().get(files('contents')).query({ path: 'a.txt' }).set('Authorization', admin())).status).toBe(404);
  }, 30_000);

  it('compresses to tar.gz and decompresses it back', async () => {
    await http().put(files('write')).query({ path: 'world/level.dat' }).set('Authorization', admin()).set('Content-Type', 'text/plain').send('level');
    await http().put(files('write')).query({ path: 'world/region/r.0.0.mca' }).set('Authorization', admin()).set('Content-Type', 'text/plain').send('region');
    const compressed = await http().post(files('compress')).set('Authorization', admin()).send({ paths: ['/world'], name: 'world.tar.gz' });
    expect([compressed.status, compressed.body]).toEqual([200, { name: '/world.tar.gz' }]);
    expect(execFileSync('tar', ['-tzf', join(server.dir, 'world.tar.gz')], { encoding: 'utf8' }).split('\n').filter(Boolean).sort()).toEqual(['world/', 'world/level.dat', 'world/region/', 'world/region/r.0.0.mca']);
    const unnamed = await http().post(files('compress')).set('Authorization', admin()).send({ paths: ['/world/level.dat'] });
    expect(unnamed.body.name).toMatch(/^\/world\/archive-.*\.tar\.gz$/);

    await http().post(files('delete')).set('Authorization', admin()).send({ paths: ['/world'] });
    const extracted = await http().post(files('decompress')).set('Authorization', admin()).send({ path: '/world.tar.gz' });
    expect([extracted.status, extracted.body]).toEqual([200, { entries: 4 }]);
    expect(readFileSync(join(server.dir, 'world/region/r.0.0.mca'), 'utf8')).toBe('region');
  }, 30_000);

  it('records each change in the audit log as server.files_changed by the user; reads and refused verbs record nothing', async () => {
    const me = await http().get('/api/v1/users/me').set('Authorization', admin());
    // Each request's X-Request-Id is the correlation id of what it recorded.
    const requestId = (res: { headers: Record<string, string> }) => res.headers['x-request-id'];
    const write = await http().put(files('write')).query({ path: 'audited/a.txt' }).set('Authorization', admin()).set('Content-Type', 'text/plain').send('A');
    const rename = await http().post(files('rename')).set('Authorization', admin()).send({ from: 'audited/a.txt', to: '/audited/b.txt' });
    const refused = await http().put(files('write')).query({ path: 'audited/../escape.txt' }).set('Authorization', admin()).set('Content-Type', 'text/plain').send('X');
    const read = await http().get(files('contents')).query({ path: 'audited/b.txt' }).set('Authorization', admin());
    const chmod = await http().post(files('chmod')).set('Authorization', admin()).send({ path: 'audited/b.txt', mode: '600' });
    const del = await http().post(files('delete')).set('Authorization', admin()).send({ paths: ['/audited'] });
    expect([write, rename, refused, read, chmod, del].map((r) => r.status)).toEqual([200, 200, 400, 200, 200, 200]);

    const changes = [write, rename, chmod, del].map(requestId);
    const audit = async () =>
      (await http().get('/api/v1/audit').query({ subject: `server/${server.id}`, limit: 500 }).set('Authorization', admin())).body.items as { actor: string; action: string; correlationId: string }[];
    await world.stack.waitFor('the four REST changes in the audit log', async () => {
      const items = await audit();
      return changes.every((id) => items.some((i) => i.correlationId === id));
    }, 20_000);
    const items = await audit();
    for (const id of changes) expect(items.filter((i) => i.correlationId === id)).toEqual([expect.objectContaining({ actor: `user:${me.body.id}`, action: 'server.files_changed' })]);
    // Events of one server are projected in order: the refused write and the read, made before the delete, would show by now.
    expect(items.filter((i) => i.correlationId === requestId(refused) || i.correlationId === requestId(read))).toEqual([]);
  }, 40_000);

  it('answers 413 above the contents and write cap', async () => {
    const big = Buffer.alloc(SERVER_FILE_TEXT_MAX_BYTES + 1, 'a');
    const write = await http().put(files('write')).query({ path: 'big.txt' }).set('Authorization', admin()).set('Content-Type', 'application/octet-stream').send(big);
    expect([write.status, write.body.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    execFileSync('sh', ['-c', `head -c ${SERVER_FILE_TEXT_MAX_BYTES + 1} /dev/zero > big.txt`], { cwd: server.dir });
    const read = await http().get(files('contents')).query({ path: 'big.txt' }).set('Authorization', admin());
    expect([read.status, read.body.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  }, 30_000);
});
