import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { STACK_ADMIN } from './stack-harness';
import { as, startFilesWorld, type FilesWorld } from './server-files-fixture';
import { sftpBatch } from './sftp-client';
import { streamMultipart } from './server-file-upload';

const MIB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const binary = (res: any, done: (err: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => done(null, Buffer.concat(chunks)));
};

/** Issue 11: streamed download/upload (progress over socket.io), VFS import/export, the disk limit on every write path. */
describe('server file transfers (real stack, agent and files service)', () => {
  let world: FilesWorld;
  let server: { id: string; dir: string };
  let tiny: { id: string; dir: string };
  const local = mkdtempSync(join(tmpdir(), 'encedeus-transfers-'));
  const http = () => world.stack.http();

  beforeAll(async () => {
    world = await startFilesWorld({ files: true });
    server = await world.server('transfers');
    // 16 MiB of disk (the least a server may have), 15 of them taken by a file its own process wrote
    // (counted by the agent's first walk): every write path is refused past the last MiB.
    tiny = await world.server('tiny', undefined, 16);
    writeFileSync(join(tiny.dir, 'filler.bin'), randomBytes(15 * MIB));
  }, 240_000);

  afterAll(async () => {
    await world?.stack.stop();
  });

  it('uploads a multipart file into a directory, streamed, with progress to the uploader\'s socket', async () => {
    const socket: Socket = connectSocket(world.stack.gateway.url, { path: '/socket.io', transports: ['websocket'], auth: { token: world.admin }, reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const progress: any[] = [];
    socket.on('server_files.progress', (m) => progress.push(m));
    const bytes = randomBytes(3 * MIB + 17);

    const res = await http()
      .post(`/api/v1/servers/${server.id}/files/upload`)
      .query({ path: '/uploads', upload_id: 'up-1', socket_id: socket.id })
      .set('Authorization', as(world.admin))
      .attach('file', bytes, 'up.bin');
    expect([res.status, res.body]).toEqual([200, { path: '/uploads/up.bin', size: bytes.length }]);
    await world.stack.waitFor('last progress', async () => progress.some((m) => m.done), 5_000);
    socket.close();

    expect(sha256(readFileSync(join(server.dir, 'uploads/up.bin')))).toBe(sha256(bytes));
    expect(readdirSync(join(server.dir, 'uploads'))).toEqual(['up.bin']);
    expect(progress[progress.length - 1]).toMatchObject({ upload_id: 'up-1', server_id: server.id, op: 'upload', path: '/uploads/up.bin', bytes: bytes.length, done: true });
    // The committed upload is one server.files_changed by the uploader (opening the transfer records nothing).
    const audit = async () => (await http().get('/api/v1/audit').query({ subject: `server/${server.id}`, action: 'server.files_changed' }).set('Authorization', as(world.admin))).body.items as unknown[];
    await world.stack.waitFor('the upload in the audit log', async () => (await audit()).length > 0, 10_000);
    expect(await audit()).toHaveLength(1);
  });

  it('downloads a file byte-identical, with its length and name', async () => {
    const bytes = randomBytes(2 * MIB + 5);
    writeFileSync(join(server.dir, 'down.bin'), bytes);

    const res = await http().get(`/api/v1/servers/${server.id}/files/download`).query({ path: '/down.bin' }).set('Authorization', as(world.admin)).buffer(true).parse(binary);

    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(bytes.length));
    expect(res.headers['content-disposition']).toContain('down.bin');
    expect(sha256(res.body as Buffer)).toBe(sha256(bytes));
  });

  it('refuses download and upload paths that leave the jail, and callers without the permission', async () => {
    const carol = await world.userWith('carol', ['servers.read', 'files.read']);
    const traversal = await http().get(`/api/v1/servers/${server.id}/files/download`).query({ path: '/../etc/passwd' }).set('Authorization', as(world.admin));
    const link = await http().get(`/api/v1/servers/${server.id}/files/download`).query({ path: '/abs-file' }).set('Authorization', as(world.admin));
    const upload = await http().post(`/api/v1/servers/${server.id}/files/upload`).query({ path: '/abs-dir' }).set('Authorization', as(world.admin)).attach('file', Buffer.from('x'), 'passwd');
    const denied = await http().post(`/api/v1/servers/${server.id}/files/upload`).query({ path: '/' }).set('Authorization', as(carol.token)).attach('file', Buffer.from('x'), 'x.txt');

    expect([traversal.status, traversal.body.details?.reason]).toEqual([400, 'traversal']);
    expect([link.status, link.body.details?.reason]).toEqual([400, 'symlink_escape']);
    expect([upload.status, upload.body.details?.reason]).toEqual([400, 'symlink_escape']);
    expect([404, 403]).toContain(denied.status);
    expect(existsSync(join(server.dir, 'x.txt'))).toBe(false);
  });

  it('exports a server file to the caller\'s VFS and imports a VFS file into a server directory', async () => {
    const bytes = randomBytes(MIB + 3);
    writeFileSync(join(server.dir, 'world.dat'), bytes);

    const exported = await http().post(`/api/v1/servers/${server.id}/files/export`).set('Authorization', as(world.admin)).send({ path: '/world.dat', vfs_path: '/backups/world.dat' });
    const back = await http().get('/api/v1/fs/download').query({ path: '/backups/world.dat' }).set('Authorization', as(world.admin)).buffer(true).parse(binary);
    const imported = await http().post(`/api/v1/servers/${server.id}/files/import`).set('Authorization', as(world.admin)).send({ vfs_path: '/backups/world.dat', to: '/restored' });

    expect(exported.status).toBe(200);
    expect(sha256(back.body as Buffer)).toBe(sha256(bytes));
    expect(imported.status).toBe(200);
    expect(imported.body).toEqual({ path: '/restored/world.dat', size: bytes.length });
    expect(sha256(readFileSync(join(server.dir, 'restored/world.dat')))).toBe(sha256(bytes));
  });

  it('finds no other user\'s VFS path (404), refuses export over the caller\'s quota (413, nothing stored) and import without files.write (403)', async () => {
    const bob = await world.userWith('bob', ['files.read', 'files.write']);
    const bobServer = await world.server('bob-server', bob.id);
    const dave = await world.userWith('dave', ['files.read']);
    const daveServer = await world.server('dave-server', dave.id);
    writeFileSync(join(bobServer.dir, 'big.bin'), randomBytes(2 * MIB));
    await http().put(`/api/v1/users/${bob.id}/quota`).set('Authorization', as(world.admin)).send({ bytes: MIB });

    const foreign = await http().post(`/api/v1/servers/${bobServer.id}/files/import`).set('Authorization', as(bob.token)).send({ vfs_path: '/backups/world.dat', to: '/' });
    const overQuota = await http().post(`/api/v1/servers/${bobServer.id}/files/export`).set('Authorization', as(bob.token)).send({ path: '/big.bin', vfs_path: '/big.bin' });
    const ls = await http().get('/api/v1/fs/ls').query({ path: '/' }).set('Authorization', as(bob.token));
    const noWrite = await http().post(`/api/v1/servers/${daveServer.id}/files/import`).set('Authorization', as(dave.token)).send({ vfs_path: '/x', to: '/' });
    const noServer = await http().post(`/api/v1/servers/${server.id}/files/export`).set('Authorization', as(bob.token)).send({ path: '/world.dat', vfs_path: '/w.dat' });

    expect([foreign.status, foreign.body.code]).toEqual([404, 'NOT_FOUND']);
    expect([overQuota.status, overQuota.body.code]).toEqual([413, 'QUOTA_EXCEEDED']);
    expect(ls.body).toEqual([]);
    expect([noWrite.status, noWrite.body.details?.missing]).toEqual([403, ['files.write']]);
    expect(noServer.status).toBe(404);
  }, 120_000);

  describe('the disk limit (16 MiB server with 1 MiB free)', () => {
    it('refuses an upload past it (declared length: at once; chunked: mid-stream) and leaves nothing', async () => {
      const declared = await streamMultipart(`${world.stack.gateway.url}/api/v1/servers/${tiny.id}/files/upload?path=/`, world.admin, 'big.bin', 3 * MIB);
      const chunked = await streamMultipart(`${world.stack.gateway.url}/api/v1/servers/${tiny.id}/files/upload?path=/`, world.admin, 'big.bin', 3 * MIB, { chunked: true });

      expect([declared.status, declared.body.code]).toEqual([413, 'DISK_QUOTA_EXCEEDED']);
      expect([chunked.status, chunked.body.code]).toEqual([413, 'DISK_QUOTA_EXCEEDED']);
      expect(readdirSync(tiny.dir).filter((n) => n.includes('big') || n.startsWith('.encedeus-upload'))).toEqual([]);
    });

    it('refuses REST writes past it', async () => {
      // 3 × 300 KiB fit in the last MiB beside the planted links and directories; the fourth does not.
      const chunk = randomBytes(300 * 1024);
      const answers: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await http().put(`/api/v1/servers/${tiny.id}/files/write`).query({ path: `/w${i}.bin` }).set('Authorization', as(world.admin)).set('Content-Type', 'application/octet-stream').send(chunk);
        answers.push(`${res.status} ${res.body.code ?? ''}`.trim());
      }

      expect(answers).toEqual(['200', '200', '200', '413 DISK_QUOTA_EXCEEDED', '413 DISK_QUOTA_EXCEEDED']);
      expect(existsSync(join(tiny.dir, 'w3.bin'))).toBe(false);
      await http().post(`/api/v1/servers/${tiny.id}/files/delete`).set('Authorization', as(world.admin)).send({ paths: ['/w0.bin', '/w1.bin', '/w2.bin'] });
    });

    it('refuses an SFTP put past it (real OpenSSH sftp) and removes the partial file', async () => {
      await world.stack.waitFor('node spec with sftp', async () => !!(await http().get(`/api/v1/nodes/${world.nodeId}`).set('Authorization', as(world.admin))).body.spec?.sftp, 30_000);
      const sftp = (await http().get(`/api/v1/servers/${tiny.id}`).set('Authorization', as(world.admin))).body.sftp;
      writeFileSync(join(local, 'big.bin'), randomBytes(3 * MIB));

      const put = await sftpBatch(sftp.port, sftp.username, { password: STACK_ADMIN.password }, [`put ${join(local, 'big.bin')} /sftp-big.bin`]);

      expect(put.code).not.toBe(0);
      expect(existsSync(join(tiny.dir, 'sftp-big.bin'))).toBe(false);
    });

    it('refuses an import past it', async () => {
      // 3 MiB in the admin's VFS, through the server that has room.
      writeFileSync(join(server.dir, 'three.bin'), randomBytes(3 * MIB));
      expect((await http().post(`/api/v1/servers/${server.id}/files/export`).set('Authorization', as(world.admin)).send({ path: '/three.bin', vfs_path: '/three.bin' })).status).toBe(200);

      const imported = await http().post(`/api/v1/servers/${tiny.id}/files/import`).set('Authorization', as(world.admin)).send({ vfs_path: '/three.bin', to: '/' });

      expect([imported.status, imported.body.code]).toEqual([413, 'DISK_QUOTA_EXCEEDED']);
      expect(existsSync(join(tiny.dir, 'three.bin'))).toBe(false);
    });
  });
});
