import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator } from 'nats';
import { AuthVerbs, type DomainError } from '@encedeus/contracts';
import { agentPermissions, CommandClient, mintUserCreds } from '@encedeus/messaging';
import { STACK_ADMIN } from './stack-harness';
import { AGENT_SECRET, as, startFilesWorld, type FilesWorld } from './server-files-fixture';
import { sftpBatch, sftpInteractive } from './sftp-client';

/**
 * Issue 11, SFTP attacks with the real OpenSSH client: the server's own process planted links to
 * /etc and to the agent's data directory (server-files-fixture); `..` and links must never leave
 * the server's directory, and permissions are checked per operation and for the session's life.
 */
describe('sftp (security)', () => {
  let world: FilesWorld;
  let server: { id: string; dir: string };
  let port: number;
  let admin: string;
  const local = mkdtempSync(join(tmpdir(), 'encedeus-sftp-sec-'));
  const http = () => world.stack.http();
  const sftpOf = async (id: string, token: string) => (await http().get(`/api/v1/servers/${id}`).set('Authorization', as(token))).body.sftp as { port: number; username: string };
  /** Every file fetched into `local`, with its bytes. */
  const fetched = () => readdirSync(local).map((name) => readFileSync(join(local, name), 'utf8'));
  /**
   * Whether an open interactive session ends within 20 s. sftp notices a dropped connection only at
   * its next request, so it is kept asking (`ls`) meanwhile; a session still open is killed.
   */
  const sessionEnds = async (session: ReturnType<typeof sftpInteractive>): Promise<boolean> => {
    const asking = setInterval(() => session.child.stdin!.writable && session.send('ls'), 500);
    const ended = await Promise.race([session.done.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 20_000))]);
    clearInterval(asking);
    if (!ended) session.child.kill('SIGKILL');
    return ended;
  };

  beforeAll(async () => {
    // Sessions are re-checked every half second, so a disabled user's session ends within the test.
    process.env.AGENT_SFTP_RECHECK_MS = '500';
    world = await startFilesWorld();
    server = await world.server('sftp-security');
    await world.stack.waitFor('node spec with sftp', async () => !!(await http().get(`/api/v1/nodes/${world.nodeId}`).set('Authorization', as(world.admin))).body.spec?.sftp, 30_000);
    ({ port, username: admin } = await sftpOf(server.id, world.admin));
  }, 180_000);

  afterAll(async () => {
    delete process.env.AGENT_SFTP_RECHECK_MS;
    await world?.stack.stop();
  });

  it('keeps `cd ..` inside the server directory', async () => {
    const run = await sftpBatch(port, admin, { password: STACK_ADMIN.password }, ['cd ..', 'cd ../../..', 'pwd', 'ls -1a', `lcd ${local}`, '-get ../../agent-secret.txt', '-get /../agent-secret.txt']);
    expect(run).toMatchObject({ code: 0 }); // on failure, shows what sftp printed
    expect(run.stdout).toContain('Remote working directory: /\n');
    // The server's own entries, not the host's or the agent's.
    const listing = run.stdout.split('sftp> ls -1a\n')[1].split('sftp>')[0].trim().split('\n');
    expect(listing).toEqual(['.', '..', ...readdirSync(server.dir).sort()]);
    expect(fetched().join('')).not.toContain(AGENT_SECRET.text.trim());
  }, 30_000);

  it('never follows the links the server planted out of its directory', async () => {
    const run = await sftpBatch(port, admin, { password: STACK_ADMIN.password }, [
      `lcd ${local}`,
      '-get rel-file',
      '-get abs-file',
      '-get nested/deep-file',
      '-ls abs-dir/',
      '-ls rel-dir/',
      '-get rel-dir/agent-secret.txt',
      '-put /etc/hostname abs-dir/hostname-copy',
      '-rename abs-file abs-dir/moved',
    ]);
    expect(run).toMatchObject({ code: 0 }); // on failure, shows what sftp printed
    expect(fetched().join('')).not.toContain(AGENT_SECRET.text.trim());
    expect(readdirSync(local)).not.toContain('abs-file');
    expect(run.stdout).not.toMatch(/passwd|identity\.json/);
    expect(existsSync('/etc/hostname-copy')).toBe(false);
    expect(existsSync('/etc/moved')).toBe(false);
  }, 30_000);

  it('refuses to create symbolic links', async () => {
    const run = await sftpBatch(port, admin, { password: STACK_ADMIN.password }, ['-symlink /etc/passwd out-link', '-ln -s ../../agent-secret.txt out-link2', '-symlink nested in-link']);
    expect(run).toMatchObject({ code: 0 }); // on failure, shows what sftp printed
    expect(run.stderr).toMatch(/denied|failure/i);
    for (const name of ['out-link', 'out-link2', 'in-link']) expect(() => lstatSync(join(server.dir, name))).toThrow();
  }, 30_000);

  it("keeps the mode of the server's root directory", async () => {
    const before = lstatSync(server.dir).mode & 0o777;
    const run = await sftpBatch(port, admin, { password: STACK_ADMIN.password }, ['-chmod 777 /', '-chmod 777 .', '-chmod 777 ..', '-rmdir /', '-rename / /moved']);
    expect(run).toMatchObject({ code: 0 }); // on failure, shows what sftp printed
    expect(run.stderr).toMatch(/denied|failure/i);
    expect(lstatSync(server.dir).mode & 0o777).toBe(before);
    expect(existsSync(server.dir)).toBe(true);
  }, 30_000);

  it('refuses another user name with your password or your key, and users with no file permission', async () => {
    const other = await world.userWith('sftp-other', ['servers.create', 'files.read']);
    const otherServer = await world.server('sftp-others', other.id);
    const otherLogin = await sftpOf(otherServer.id, other.token);
    // The admin's password for the other user's name on the other user's server.
    const swapped = await sftpBatch(port, otherLogin.username, { password: STACK_ADMIN.password }, ['pwd']);
    expect(swapped.code).not.toBe(0);
    // The other user's password for the admin's server: it is not theirs to see.
    const foreign = await sftpBatch(port, `sftp-other.${server.id.slice(0, 8)}`, { password: 'sftp-other password 1' }, ['pwd']);
    expect(foreign.code).not.toBe(0);
    // Their own server works.
    const own = await sftpBatch(port, otherLogin.username, { password: 'sftp-other password 1' }, ['pwd']);
    expect(own).toMatchObject({ code: 0 });

    // Your registered key for another user's name: refused; the same key under your own name works.
    const keyFile = join(local, 'admin_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    const added = await http().post('/api/v1/users/me/ssh-keys').set('Authorization', as(world.admin)).send({ name: 'admin', public_key: readFileSync(`${keyFile}.pub`, 'utf8') });
    expect(added.status).toBe(201);
    const stolen = await sftpBatch(port, otherLogin.username, { keyFile }, ['pwd']);
    expect(stolen.code).not.toBe(0);
    expect(await sftpBatch(port, admin, { keyFile }, ['pwd'])).toMatchObject({ code: 0 });
    // An API key cannot add credentials for its owner.
    const apiKey = await http().post('/api/v1/api-keys').set('Authorization', as(world.admin)).send({ name: 'ci', permissions: ['files.read'] });
    expect(apiKey.status).toBe(201);
    const byKey = await http().post('/api/v1/users/me/ssh-keys').set('Authorization', as(apiKey.body.key)).send({ name: 'k', public_key: readFileSync(`${keyFile}.pub`, 'utf8') });
    expect([byKey.status, byKey.body.code]).toEqual([403, 'FORBIDDEN']);

    const none = await world.userWith('sftp-none', ['servers.create']);
    const noneServer = await world.server('sftp-nones', none.id);
    const refused = await sftpBatch(port, (await sftpOf(noneServer.id, none.token)).username, { password: 'sftp-none password 1' }, ['pwd']);
    expect(refused.code).not.toBe(0);
  }, 120_000);

  it('lets a user without files.write read but not put, rename, mkdir or remove', async () => {
    const reader = await world.userWith('sftp-reader', ['servers.create', 'files.read']);
    const own = await world.server('sftp-readers', reader.id);
    writeFileSync(join(own.dir, 'readme.txt'), 'read me\n');
    writeFileSync(join(local, 'upload.txt'), 'should not land\n');
    const login = await sftpOf(own.id, reader.token);
    const run = await sftpBatch(login.port, login.username, { password: 'sftp-reader password 1' }, [
      `lcd ${local}`,
      'get readme.txt',
      '-put upload.txt',
      '-mkdir made',
      '-rename readme.txt renamed.txt',
      '-rm readme.txt',
      '-chmod 777 readme.txt',
    ]);
    expect(run).toMatchObject({ code: 0 }); // on failure, shows what sftp printed
    expect(readFileSync(join(local, 'readme.txt'), 'utf8')).toBe('read me\n');
    expect(existsSync(join(own.dir, 'upload.txt'))).toBe(false);
    expect(existsSync(join(own.dir, 'made'))).toBe(false);
    expect(readFileSync(join(own.dir, 'readme.txt'), 'utf8')).toBe('read me\n');
    expect(lstatSync(join(own.dir, 'readme.txt')).mode & 0o777).not.toBe(0o777);
    expect(run.stderr).toMatch(/denied/i);
  }, 120_000);

  it('ends the session of a user who is disabled meanwhile', async () => {
    const victim = await world.userWith('sftp-victim', ['servers.create', 'files.read', 'files.write']);
    const own = await world.server('sftp-victims', victim.id);
    const login = await sftpOf(own.id, victim.token);
    const session = sftpInteractive(login.port, login.username, { password: 'sftp-victim password 1' });
    session.send('pwd');
    await world.stack.waitFor('session open', async () => session.output().includes('Remote working directory'), 45_000);

    const disabled = await http().patch(`/api/v1/users/${victim.id}`).set('Authorization', as(world.admin)).send({ disabled: true });
    expect(disabled.status).toBe(200);

    expect(await sessionEnds(session)).toBe(true);
  }, 120_000);

  it('ends the session of a user whose role loses the file permissions meanwhile', async () => {
    const member = await world.userWith('sftp-member', ['servers.create', 'files.read', 'files.write']);
    const own = await world.server('sftp-members', member.id);
    const login = await sftpOf(own.id, member.token);
    const session = sftpInteractive(login.port, login.username, { password: 'sftp-member password 1' });
    session.send('pwd');
    await world.stack.waitFor('session open', async () => session.output().includes('Remote working directory'), 45_000);

    const roles = await http().get('/api/v1/roles').query({ limit: 200 }).set('Authorization', as(world.admin));
    const role = roles.body.items.find((r: { name: string }) => r.name === 'sftp-member-role');
    const revoked = await http().patch(`/api/v1/roles/${role.id}`).set('Authorization', as(world.admin)).send({ permissions: ['servers.create'] });
    expect(revoked.status).toBe(200);

    expect(await sessionEnds(session)).toBe(true);
  }, 120_000);

  it('answers an agent only about its own node: the reply subject names the asker, not the request body', async () => {
    // A second node's agent (its own NATS credentials) asks about the first node's server.
    const intruder = randomUUID();
    const nc = await connect({ servers: world.stack.env.nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(await mintUserCreds(world.stack.env.nats.signer, `agent-${intruder}`, agentPermissions(intruder)))) });
    const client = new CommandClient(nc);
    const ask = (verb: string, nodeId: string, extra: Record<string, unknown>) =>
      client.send('auth', verb, { node_id: nodeId, server_id: server.id, ...extra }, { actor: `agent:${intruder}` }, { replySubject: `agent.${intruder}.reply.${randomUUID().slice(0, 8)}` }).then(
        (reply) => ({ ok: reply }),
        (error: DomainError) => ({ code: error.code }),
      );
    try {
      const me = (await http().get('/api/v1/users/me').set('Authorization', as(world.admin))).body.id as string;
      expect(await ask(AuthVerbs.sftpLogin, world.nodeId, { user_name: admin.split('.')[0], password: STACK_ADMIN.password })).toEqual({ code: 'FORBIDDEN' });
      expect(await ask(AuthVerbs.sftpAccess, world.nodeId, { user_id: me })).toEqual({ code: 'FORBIDDEN' });
      // Naming its own node passes the check (and the server is not on it: 404).
      expect(await ask(AuthVerbs.sftpAccess, intruder, { user_id: me })).toEqual({ code: 'NOT_FOUND' });
    } finally {
      await nc.close();
    }
  }, 30_000);

  it('counts wrong SFTP passwords in the login limiter, like REST logins', async () => {
    const target = await world.userWith('sftp-spray', ['servers.create', 'files.read']);
    const own = await world.server('sftp-sprays', target.id);
    const login = await sftpOf(own.id, target.token);
    // The limiter admits 5 attempts a minute per account and address: the wrong ones use them up.
    for (let i = 0; i < 5; i++) expect((await sftpBatch(login.port, login.username, { password: `wrong ${i}` }, ['pwd'])).code).not.toBe(0);

    const right = await sftpBatch(login.port, login.username, { password: 'sftp-spray password 1' }, ['pwd']);
    expect(right.code).not.toBe(0);
    const rest = await http().post('/api/v1/auth/login').send({ username: 'sftp-spray', password: 'sftp-spray password 1' });
    expect([rest.status, rest.body.code]).toEqual([429, 'RATE_LIMITED']);
  }, 120_000);
});
