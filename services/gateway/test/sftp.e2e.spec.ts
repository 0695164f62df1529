import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STACK_ADMIN } from './stack-harness';
import { as, startFilesWorld, type FilesWorld } from './server-files-fixture';
import { sftpBatch } from './sftp-client';

/** Issue 11: SFTP on the node, driven by the real OpenSSH `sftp` client against a real agent. */
describe('sftp (OpenSSH client, password login)', () => {
  let world: FilesWorld;
  let server: { id: string; dir: string };
  let sftp: { host: string; port: number; username: string };
  const local = mkdtempSync(join(tmpdir(), 'encedeus-sftp-local-'));

  beforeAll(async () => {
    world = await startFilesWorld();
    server = await world.server('sftp-e2e');
    // The node spec (with the SFTP port) comes with the agent's boot report, which may follow its first heartbeats.
    await world.stack.waitFor('node spec with sftp', async () => !!(await world.stack.http().get(`/api/v1/nodes/${world.nodeId}`).set('Authorization', as(world.admin))).body.spec?.sftp, 30_000);
    const details = await world.stack.http().get(`/api/v1/servers/${server.id}`).set('Authorization', as(world.admin));
    sftp = details.body.sftp;
  }, 180_000);

  afterAll(async () => {
    await world?.stack.stop();
  });

  it('shows sftp { host, port, username } in the server details and the port in the node spec', async () => {
    expect(sftp).toEqual({ host: expect.any(String), port: expect.any(Number), username: expect.stringMatching(new RegExp(`\\.${server.id.slice(0, 8)}$`)) });
    expect(sftp.port).toBeGreaterThan(0);
    const node = await world.stack.http().get(`/api/v1/nodes/${world.nodeId}`).set('Authorization', as(world.admin));
    expect(node.body.spec.sftp).toMatchObject({ port: sftp.port });
  });

  it('puts, gets byte-identical, renames, makes and removes directories and files', async () => {
    const bytes = randomBytes(700 * 1024 + 123);
    writeFileSync(join(local, 'up.bin'), bytes);
    const put = await sftpBatch(sftp.port, sftp.username, { password: STACK_ADMIN.password }, [
      `lcd ${local}`,
      'put up.bin',
      'mkdir backups',
      'rename up.bin backups/moved.bin',
      'get backups/moved.bin down.bin',
      'ls -l backups',
      'chmod 600 backups/moved.bin',
    ]);
    expect(put).toMatchObject({ code: 0, stderr: '' });
    expect(readFileSync(join(local, 'down.bin')).equals(bytes)).toBe(true);
    expect(readFileSync(join(server.dir, 'backups/moved.bin')).equals(bytes)).toBe(true);
    expect(existsSync(join(server.dir, 'up.bin'))).toBe(false);
    expect(put.stdout).toContain('moved.bin');
    // Written by the agent (root) but owned by the server's uid, like the file manager's writes.
    expect(statSync(join(server.dir, 'backups/moved.bin')).uid).toBe(statSync(server.dir).uid);
    expect(statSync(join(server.dir, 'backups/moved.bin')).mode & 0o777).toBe(0o600);

    const rm = await sftpBatch(sftp.port, sftp.username, { password: STACK_ADMIN.password }, ['rm backups/moved.bin', 'rmdir backups']);
    expect(rm).toMatchObject({ code: 0, stderr: '' });
    expect(existsSync(join(server.dir, 'backups'))).toBe(false);

    // Every write, mkdir, rename, chmod and delete is a server.files_changed event by the user: the audit log shows it.
    const me = await world.stack.http().get('/api/v1/users/me').set('Authorization', as(world.admin));
    const audit = async () =>
      (await world.stack.http().get('/api/v1/audit').query({ subject: `server/${server.id}`, action: 'server.files_changed' }).set('Authorization', as(world.admin))).body.items as { actor: string }[];
    await world.stack.waitFor('six files_changed events in the audit log', async () => (await audit()).length >= 6, 20_000);
    const items = await audit();
    expect(items.map((i) => i.actor)).toEqual(Array(6).fill(`user:${me.body.id}`));
  }, 60_000);

  it('refuses a wrong password', async () => {
    const run = await sftpBatch(sftp.port, sftp.username, { password: 'not the password' }, ['pwd']);
    expect(run.code).not.toBe(0);
    expect(run.stdout).not.toContain('Remote working directory');
  }, 30_000);

  describe('SSH keys', () => {
    const keyFile = join(local, 'id_ed25519');
    let keyId: string;

    beforeAll(() => {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'admin@laptop', '-f', keyFile]);
    });

    it('registers a public key (POST/GET /users/me/ssh-keys), refusing duplicates, private keys and garbage', async () => {
      const publicKey = readFileSync(`${keyFile}.pub`, 'utf8');
      const added = await world.stack.http().post('/api/v1/users/me/ssh-keys').set('Authorization', as(world.admin)).send({ name: 'laptop', public_key: publicKey });
      expect(added.status).toBe(201);
      const fingerprint = execFileSync('ssh-keygen', ['-lf', `${keyFile}.pub`], { encoding: 'utf8' }).split(' ')[1];
      expect(added.body).toMatchObject({ id: expect.any(String), name: 'laptop', algorithm: 'ssh-ed25519', fingerprint, public_key: publicKey.split(' ').slice(0, 2).join(' ') });
      keyId = added.body.id;

      const again = await world.stack.http().post('/api/v1/users/me/ssh-keys').set('Authorization', as(world.admin)).send({ name: 'same key', public_key: publicKey });
      expect([again.status, again.body.code]).toEqual([409, 'ALREADY_EXISTS']);
      for (const bad of [readFileSync(keyFile, 'utf8'), 'ssh-ed25519 not-base64', 'hello']) {
        const refused = await world.stack.http().post('/api/v1/users/me/ssh-keys').set('Authorization', as(world.admin)).send({ name: 'bad', public_key: bad });
        expect([refused.status, refused.body.code]).toEqual([422, 'VALIDATION_FAILED']);
      }
      const list = await world.stack.http().get('/api/v1/users/me/ssh-keys').set('Authorization', as(world.admin));
      expect(list.status).toBe(200);
      expect(list.body).toEqual([expect.objectContaining({ id: keyId, fingerprint })]);
    }, 30_000);

    it('logs in with the key: put and get byte-identical', async () => {
      const bytes = randomBytes(64 * 1024 + 7);
      writeFileSync(join(local, 'key-up.bin'), bytes);
      const run = await sftpBatch(sftp.port, sftp.username, { keyFile }, [`lcd ${local}`, 'put key-up.bin', 'get key-up.bin key-down.bin']);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(readFileSync(join(local, 'key-down.bin')).equals(bytes)).toBe(true);
      expect(readFileSync(join(server.dir, 'key-up.bin')).equals(bytes)).toBe(true);
    }, 30_000);

    it('refuses the key once it is deleted', async () => {
      const removed = await world.stack.http().delete(`/api/v1/users/me/ssh-keys/${keyId}`).set('Authorization', as(world.admin));
      expect(removed.status).toBe(204);
      expect((await world.stack.http().get('/api/v1/users/me/ssh-keys').set('Authorization', as(world.admin))).body).toEqual([]);
      const run = await sftpBatch(sftp.port, sftp.username, { keyFile }, ['pwd']);
      expect(run.code).not.toBe(0);
    }, 30_000);
  });
});
