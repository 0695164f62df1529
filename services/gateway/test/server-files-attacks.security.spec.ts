import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { connect, credsAuthenticator, JSONCodec, type NatsConnection } from 'nats';
import { as, startFilesWorld, type FilesWorld } from './server-files-fixture';

/**
 * A ustar header of a regular file with any size (base-256 above the 11 octal digits), so a few
 * hundred bytes can declare gigabytes.
 */
function fileHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h[124] = 0x80;
  let v = BigInt(size);
  for (let i = 135; i > 124; i--) {
    h[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  h.write('00000000000\0', 136);
  h.write('0', 156);
  h.write('ustar\x0000', 257);
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/**
 * Issue 11 review, on the real stack and agent: what the server's process (as its uid) can leave in
 * its directory to break the file manager (names that are not UTF-8, trees deeper than the agent has
 * descriptors), archives that declare more than the extraction cap, and each route's permission.
 */
describe('server files (attacks on the agent)', () => {
  let world: FilesWorld;
  let server: { id: string; dir: string };
  let owner: { uid: number; gid: number };

  beforeAll(async () => {
    world = await startFilesWorld();
    server = await world.server('files-attacks');
    const st = statSync(server.dir);
    owner = { uid: st.uid, gid: st.gid };
  }, 180_000);

  afterAll(async () => {
    await world?.stack.stop();
  });

  const files = (verb: string, id = server.id) => `/api/v1/servers/${id}/files/${verb}`;
  const http = () => world.stack.http();
  const admin = () => as(world.admin);

  it('refuses an archive declaring more than the extraction cap with 413, writing nothing', async () => {
    // A 1-byte file, then a header for 9 GiB: together a few KiB of gzip.
    const small = Buffer.concat([fileHeader('first.txt', 1), Buffer.alloc(512, 'x')]);
    writeFileSync(join(server.dir, 'bomb.tar.gz'), gzipSync(Buffer.concat([small, fileHeader('huge.bin', 9 * 1024 ** 3)])));
    chownSync(join(server.dir, 'bomb.tar.gz'), owner.uid, owner.gid);

    const res = await http().post(files('decompress')).set('Authorization', admin()).send({ path: '/bomb.tar.gz' });

    expect([res.status, res.body.code, res.body.details?.reason]).toEqual([413, 'PAYLOAD_TOO_LARGE', 'archive_too_large']);
    expect(existsSync(join(server.dir, 'first.txt'))).toBe(false);
    expect(existsSync(join(server.dir, 'huge.bin'))).toBe(false);
  }, 60_000);

  it('deletes a directory in which the server made a name that is not UTF-8 (was a 500)', async () => {
    mkdirSync(join(server.dir, 'logs'));
    const bad = Buffer.concat([Buffer.from(join(server.dir, 'logs/')), Buffer.from([0x6c, 0x6f, 0x67, 0xff])]);
    writeFileSync(bad, 'x');
    chownSync(join(server.dir, 'logs'), owner.uid, owner.gid);
    chownSync(bad, owner.uid, owner.gid);

    const res = await http().post(files('delete')).set('Authorization', admin()).send({ paths: ['/logs'] });

    expect([res.status, res.body]).toEqual([200, { deleted: 1 }]);
    expect(existsSync(join(server.dir, 'logs'))).toBe(false);
  }, 60_000);

  it('answers 413 too_deep for a tree nested deeper than the agent walks, and still serves the next request', async () => {
    // As the server's uid, one chdir at a time (well below PATH_MAX per call).
    const made = spawnSync(process.execPath, ['-e', `process.chdir(${JSON.stringify(server.dir)}); for (let i = 0; i < 400; i++) { require('fs').mkdirSync('n'); process.chdir('n'); }`], { uid: owner.uid, gid: owner.gid });
    expect(made.status).toBe(0);

    const compress = await http().post(files('compress')).set('Authorization', admin()).send({ paths: ['/n'], name: 'deep.tar.gz' });
    const remove = await http().post(files('delete')).set('Authorization', admin()).send({ paths: ['/n'] });
    const list = await http().get(files('list')).query({ path: '/' }).set('Authorization', admin());

    expect([compress.status, compress.body.details?.reason]).toEqual([413, 'too_deep']);
    expect([remove.status, remove.body.details?.reason]).toEqual([413, 'too_deep']);
    expect(existsSync(join(server.dir, 'deep.tar.gz'))).toBe(false);
    expect(list.status).toBe(200);
  }, 60_000);

  it('checks each route against its own permission on a server the caller owns', async () => {
    const writer = await world.userWith('writer-no-read', ['files.write', 'files.delete', 'files.archive']);
    const reader = await world.userWith('reader-no-archive', ['files.read', 'files.write']);
    const archiver = await world.userWith('archiver-no-write', ['files.read', 'files.archive']);
    const writers = await world.server('writers-server', writer.id);
    const readers = await world.server('readers-server', reader.id);
    const archivers = await world.server('archivers-server', archiver.id);
    writeFileSync(join(archivers.dir, 'a.tar'), '');
    const cases = [
      { who: writer.token, id: writers.id, run: (r: ReturnType<typeof http>, u: string) => r.get(u).query({ path: '/' }), verb: 'list', missing: 'files.read' },
      { who: writer.token, id: writers.id, run: (r: ReturnType<typeof http>, u: string) => r.get(u).query({ path: '/x' }), verb: 'contents', missing: 'files.read' },
      { who: reader.token, id: readers.id, run: (r: ReturnType<typeof http>, u: string) => r.post(u).send({ path: '/a.tar' }), verb: 'decompress', missing: 'files.archive' },
      { who: reader.token, id: readers.id, run: (r: ReturnType<typeof http>, u: string) => r.post(u).send({ paths: ['/nested'] }), verb: 'compress', missing: 'files.archive' },
      { who: reader.token, id: readers.id, run: (r: ReturnType<typeof http>, u: string) => r.post(u).send({ paths: ['/nested'] }), verb: 'delete', missing: 'files.delete' },
      { who: archiver.token, id: archivers.id, run: (r: ReturnType<typeof http>, u: string) => r.post(u).send({ path: '/a.tar' }), verb: 'decompress', missing: 'files.write' },
      { who: archiver.token, id: archivers.id, run: (r: ReturnType<typeof http>, u: string) => r.post(u).send({ paths: ['/nested'] }), verb: 'compress', missing: 'files.write' },
      { who: archiver.token, id: archivers.id, run: (r: ReturnType<typeof http>, u: string) => r.post(u).send({ path: '/a.tar' }), verb: 'copy', missing: 'files.write' },
    ];

    const got = [];
    for (const c of cases) {
      const res = await c.run(http(), files(c.verb, c.id)).set('Authorization', as(c.who));
      got.push([c.verb, res.status, res.body.details?.missing]);
    }

    expect(got).toEqual(cases.map((c) => [c.verb, 403, [c.missing]]));
    expect(readFileSync(join(archivers.dir, 'a.tar'), 'utf8')).toBe('');
    expect(existsSync(join(archivers.dir, 'a copy.tar'))).toBe(false);
  }, 180_000);

  it('writes the raw body whatever the case of the route (Express matches it; the JSON parser consumed it and an empty file was written)', async () => {
    const res = await http().put(`/api/v1/servers/${server.id}/FILES/Write`).query({ path: '/case.txt' }).set('Authorization', admin()).set('Content-Type', 'application/json').send('{"a":1}');

    expect([res.status, res.body]).toEqual([200, { size: 7 }]);
    expect(readFileSync(join(server.dir, 'case.txt'), 'utf8')).toBe('{"a":1}');
  }, 60_000);

  it("refuses the agent's fs verbs and cmd.nodes.server_files to an integrator's and to a node's NATS credentials", async () => {
    const json = JSONCodec();
    const asUser = (creds: string, inboxPrefix?: string): Promise<NatsConnection> =>
      connect({ servers: world.stack.env.nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), reconnect: false, ...(inboxPrefix ? { inboxPrefix } : {}) });
    const issued = await http().post('/api/v1/integrations/nats-credentials').set('Authorization', admin()).send({ name: 'files-attacker', filter: 'evt.server.>' });
    expect(issued.status).toBe(201);
    const identity = JSON.parse(readFileSync(join(world.agent.dataDir, 'identity.json'), 'utf8')) as { node_id: string; creds: string };
    const otherNode = '0b5e3c2a-7d41-4c8e-9a6f-1f2e3d4c5b6a';
    const attempts = [
      { who: 'integrator', creds: issued.body.creds as string, inbox: issued.body.inboxPrefix as string, subject: `agent.${world.nodeId}.cmd.fs.contents` },
      { who: 'integrator', creds: issued.body.creds as string, inbox: issued.body.inboxPrefix as string, subject: 'cmd.nodes.server_files' },
      { who: 'node', creds: identity.creds, inbox: undefined, subject: `agent.${otherNode}.cmd.fs.contents` },
      { who: 'node', creds: identity.creds, inbox: undefined, subject: 'cmd.nodes.server_files' },
    ];

    const outcomes: string[] = [];
    for (const a of attempts) {
      const nc = await asUser(a.creds, a.inbox);
      const body = { server_id: server.id, id: server.id, verb: 'contents', args: { path: '/bait.txt' }, path: '/bait.txt' };
      const outcome = await nc.request(a.subject, json.encode(body), { timeout: 3000 }).then((m) => `answered ${m.string().slice(0, 80)}`, (e: Error) => String(e));
      outcomes.push(`${a.who} ${a.subject}: ${/Permissions Violation/i.test(outcome) ? 'refused' : outcome}`);
      await nc.close();
    }

    expect(outcomes).toEqual(attempts.map((a) => `${a.who} ${a.subject}: refused`));
    expect(identity.node_id).toBe(world.nodeId);
  }, 60_000);

  it("keeps an owner's API key with files.read as narrow as its permissions on the owner's server", async () => {
    const owner = await world.userWith('key-owner', ['files.read', 'files.write', 'files.delete', 'files.archive']);
    const own = await world.server('key-owners-server', owner.id);
    const key = await http().post('/api/v1/api-keys').set('Authorization', as(owner.token)).send({ name: 'read-only files', permissions: ['files.read'] });
    expect(key.status).toBe(201);
    const bearer = as(key.body.key);

    const list = await http().get(files('list', own.id)).query({ path: '/' }).set('Authorization', bearer);
    const write = await http().put(files('write', own.id)).query({ path: '/k.txt' }).set('Authorization', bearer).set('Content-Type', 'text/plain').send('k');
    const remove = await http().post(files('delete', own.id)).set('Authorization', bearer).send({ paths: ['/nested'] });
    const archive = await http().post(files('compress', own.id)).set('Authorization', bearer).send({ paths: ['/nested'] });

    expect([list.status, write.status, remove.status, archive.status]).toEqual([200, 403, 403, 403]);
    expect(existsSync(join(own.dir, 'k.txt'))).toBe(false);
    expect(existsSync(join(own.dir, 'nested'))).toBe(true);
  }, 120_000);
});
