import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'socket.io-client';
import { DEFAULT_USER_PERMISSIONS } from '@encedeus/contracts';
import { as, startFilesWorld, type FilesWorld } from './server-files-fixture';
import { sftpBatch, sftpInteractive, type SftpLogin } from './sftp-client';
import { socketAs } from './socket-client';


/**
 * Per-server sub-users (issue 14, docs/subusers.md) on the real stack with a real agent: the REST
 * routes, and what a sub-user tries beyond its grant (REST, socket, SFTP), including after removal.
 */
describe('server sub-users (REST, sockets, SFTP)', () => {
  let world: FilesWorld;
  let owner: { id: string; token: string };
  let sam: { id: string; token: string };
  let una: { id: string; token: string };
  let victor: { id: string; token: string };
  let server: { id: string; dir: string };
  let adminServer: { id: string; dir: string };
  const sockets: Socket[] = [];
  const keys = mkdtempSync(join(tmpdir(), 'encedeus-subusers-'));
  /** Sam's SSH key (OpenSSH's sftp logs in with it; the password path reaches the same access check). */
  const samKey = join(keys, 'id_ed25519');
  /** The owner's key: a session of another user on the same server that must stay open. */
  const oliviaKey = join(keys, 'olivia_ed25519');
  const http = () => world.stack.http();
  const users = (id = server.id) => `/api/v1/servers/${id}/users`;
  const sftpOf = async (token: string, id = server.id) => (await http().get(`/api/v1/servers/${id}`).set('Authorization', as(token))).body.sftp as { port: number; username: string };
  /** An interactive OpenSSH sftp session (on the shared server unless `id` names another), logged in and answering. */
  const openSession = async (token: string, login: SftpLogin, id = server.id) => {
    const { port, username } = await sftpOf(token, id);
    const session = sftpInteractive(port, username, login);
    session.send('pwd');
    await world.stack.waitFor(`sftp session of ${username}`, async () => session.output().includes('Remote working directory'), 45_000);
    return session;
  };
  /**
   * Milliseconds until an open session's process ends, or null when it still runs after `withinMs`
   * (then it is killed). sftp notices a closed connection only at its next request, so it is kept
   * asking (`ls`) every 50 ms meanwhile.
   */
  const endsWithin = async (session: ReturnType<typeof sftpInteractive>, withinMs: number): Promise<number | null> => {
    const since = Date.now();
    const asking = setInterval(() => session.child.stdin!.writable && session.send('ls'), 50);
    const ended = await Promise.race([session.done.then(() => Date.now() - since), new Promise<null>((resolve) => setTimeout(() => resolve(null), withinMs))]);
    clearInterval(asking);
    if (ended === null) session.child.kill('SIGKILL');
    return ended;
  };
  /** Whether a session still answers a request (a second `pwd` is printed). */
  const answers = async (session: ReturnType<typeof sftpInteractive>): Promise<boolean> => {
    const seen = session.output().split('Remote working directory').length;
    session.send('pwd');
    return world.stack.waitFor('sftp answer', async () => session.output().split('Remote working directory').length > seen, 10_000).then(() => true, () => false);
  };

  beforeAll(async () => {
    world = await startFilesWorld();
    owner = await world.userWith('olivia', DEFAULT_USER_PERMISSIONS);
    sam = await world.userWith('sam', DEFAULT_USER_PERMISSIONS);
    una = await world.userWith('una', DEFAULT_USER_PERMISSIONS);
    victor = await world.userWith('victor', DEFAULT_USER_PERMISSIONS);
    server = await world.server('shared', owner.id);
    adminServer = await world.server('admins-own');
    for (const [who, file] of [[sam, samKey], [owner, oliviaKey]] as const) {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'laptop', '-f', file]);
      const key = await world.stack.http().post('/api/v1/users/me/ssh-keys').set('Authorization', as(who.token)).send({ name: 'laptop', public_key: readFileSync(`${file}.pub`, 'utf8') });
      if (key.status !== 201) throw new Error(`ssh key: ${key.status} ${JSON.stringify(key.body)}`);
    }
    await world.stack.waitFor('node spec with sftp', async () => !!(await http().get(`/api/v1/nodes/${world.nodeId}`).set('Authorization', as(world.admin))).body.spec?.sftp, 30_000);
  }, 240_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    await world?.stack.stop();
  });

  it('lets the owner add a sub-user by email, and refuses duplicates, the owner, bad names and unknown users', async () => {
    const added = await http().post(users()).set('Authorization', as(owner.token)).send({ email: 'SAM@files.test', permissions: ['power', 'power'] });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ server_id: server.id, user_id: sam.id, name: 'sam', email: 'sam@files.test', permissions: ['power'], version: expect.any(Number) });
    expect(added.headers.etag).toBe(`"${added.body.version}"`);

    const again = await http().post(users()).set('Authorization', as(owner.token)).send({ user_id: sam.id, permissions: ['console'] });
    const self = await http().post(users()).set('Authorization', as(owner.token)).send({ user_id: owner.id, permissions: ['power'] });
    const change = await http().post(users()).set('Authorization', as(owner.token)).send({ user_id: una.id, permissions: ['change'] });
    const bogus = await http().post(users()).set('Authorization', as(owner.token)).send({ user_id: una.id, permissions: ['servers.manage'] });
    const both = await http().post(users()).set('Authorization', as(owner.token)).send({ user_id: una.id, email: 'una@files.test', permissions: [] });
    const neither = await http().post(users()).set('Authorization', as(owner.token)).send({ permissions: [] });
    const extra = await http().post(users()).set('Authorization', as(owner.token)).send({ user_id: una.id, permissions: [], owner_id: una.id });
    const nobody = await http().post(users()).set('Authorization', as(owner.token)).send({ email: 'nobody@files.test', permissions: ['power'] });
    const partial = await http().post(users()).set('Authorization', as(owner.token)).send({ email: 'am@files.test', permissions: ['power'] });
    const ghost = await http().post(users()).set('Authorization', as(owner.token)).send({ user_id: '00000000-0000-4000-8000-0000000000ff', permissions: ['power'] });
    const noServer = await http().post(users('00000000-0000-4000-8000-0000000000ff')).set('Authorization', as(owner.token)).send({ user_id: una.id, permissions: ['power'] });
    const badId = await http().post(users('not-a-uuid')).set('Authorization', as(owner.token)).send({ user_id: una.id, permissions: ['power'] });

    expect([again.status, again.body.code]).toEqual([409, 'CONFLICT']);
    expect([self.status, self.body.code]).toEqual([409, 'CONFLICT']);
    for (const refused of [change, bogus, both, neither, extra]) expect([refused.status, refused.body.code]).toEqual([422, 'VALIDATION_FAILED']);
    expect(JSON.stringify(change.body)).toContain('permissions');
    for (const missing of [nobody, partial, ghost, noServer]) expect([missing.status, missing.body.code]).toEqual([404, 'NOT_FOUND']);
    expect(badId.status).toBe(422);
    const list = await http().get(users()).set('Authorization', as(owner.token));
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ items: [expect.objectContaining({ user_id: sam.id, email: 'sam@files.test', permissions: ['power'] })], nextCursor: null });
  }, 60_000);

  it('shows the server to the sub-user in GET /servers (and ?q=) with only its own grant, and hides every other server', async () => {
    const list = await http().get('/api/v1/servers').set('Authorization', as(sam.token));
    const filtered = await http().get('/api/v1/servers').query({ q: 'shar' }).set('Authorization', as(sam.token));
    const one = await http().get(`/api/v1/servers/${server.id}`).set('Authorization', as(sam.token));
    const other = await http().get(`/api/v1/servers/${adminServer.id}`).set('Authorization', as(sam.token));

    expect(list.body.items.map((s: { id: string }) => s.id)).toEqual([server.id]);
    expect(filtered.body.items.map((s: { id: string }) => s.id)).toEqual([server.id]);
    expect(one.status).toBe(200);
    expect(one.body.subusers).toEqual([{ user_id: sam.id, permissions: ['power'] }]);
    // The ETag is the version only, and the body is the caller's: a browser must not keep the owner's copy for sam (the console showed the owner's SFTP user).
    expect(one.headers['cache-control']).toBe('no-store');
    expect(one.headers.vary).toMatch(/Authorization/i);
    expect(other.status).toBe(404);
  }, 30_000);

  it('lets a power-only sub-user power the server and nothing else (REST)', async () => {
    const power = await http().post(`/api/v1/servers/${server.id}/power`).set('Authorization', as(sam.token)).send({ action: 'start' });
    expect(power.status).toBe(200);
    expect(power.body.subusers).toEqual([{ user_id: sam.id, permissions: ['power'] }]);

    const attempts = {
      command: await http().post(`/api/v1/servers/${server.id}/command`).set('Authorization', as(sam.token)).send({ command: 'say hi' }),
      files: await http().get(`/api/v1/servers/${server.id}/files/list`).query({ path: '/' }).set('Authorization', as(sam.token)),
      backups: await http().get(`/api/v1/servers/${server.id}/backups`).set('Authorization', as(sam.token)),
      rename: await http().patch(`/api/v1/servers/${server.id}`).set('Authorization', as(sam.token)).send({ name: 'mine now' }),
      delete: await http().delete(`/api/v1/servers/${server.id}`).set('Authorization', as(sam.token)),
      addUser: await http().post(users()).set('Authorization', as(sam.token)).send({ user_id: victor.id, permissions: ['power'] }),
      listUsers: await http().get(users()).set('Authorization', as(sam.token)),
      escalate: await http().patch(`${users()}/${sam.id}`).set('Authorization', as(sam.token)).send({ permissions: ['power', 'console', 'files.read', 'users'] }),
      otherPower: await http().post(`/api/v1/servers/${adminServer.id}/power`).set('Authorization', as(sam.token)).send({ action: 'stop' }),
      otherUsers: await http().post(users(adminServer.id)).set('Authorization', as(sam.token)).send({ user_id: sam.id, permissions: ['power'] }),
    };

    expect(Object.fromEntries(Object.entries(attempts).map(([k, r]) => [k, r.status]))).toEqual({
      command: 403,
      files: 403,
      backups: 403,
      rename: 403,
      delete: 403,
      addUser: 403,
      listUsers: 403,
      escalate: 403,
      otherPower: 404,
      otherUsers: 404,
    });
    const view = await http().get(`/api/v1/servers/${server.id}`).set('Authorization', as(owner.token));
    expect(view.body).toMatchObject({ name: 'shared', subusers: [{ user_id: sam.id, permissions: ['power'] }] });
  }, 60_000);

  it('gives a power-only sub-user state pushes but no console lines or commands over the socket', async () => {
    const client = await socketAs(world.stack.gateway.url, sam.token);
    sockets.push(client.socket);
    const joined = await client.socket.emitWithAck('subscribe', { room: `server:${server.id}` });
    const other = await client.socket.emitWithAck('subscribe', { room: `server:${adminServer.id}` });
    client.socket.emit('call', { id: 'c1', call: 'servers.command', params: { serverId: server.id, command: 'typed-by-sam' } });
    const result = await world.stack.waitFor('command result', async () => client.received.find((r) => r.event === 'result' && r.data.id === 'c1')?.data);
    // Restart pushes state changes; the console lines it prints must not reach sam.
    const restart = await http().post(`/api/v1/servers/${server.id}/power`).set('Authorization', as(sam.token)).send({ action: 'restart' });
    await world.stack.waitFor('running push', async () => client.received.some((r) => r.event === 'server.state' && r.data.serverId === server.id && r.data.state === 'running'), 60_000);

    expect(joined).toEqual({ ok: true });
    expect(other).toMatchObject({ code: expect.stringMatching(/NOT_FOUND|FORBIDDEN/) });
    expect(result).toMatchObject({ id: 'c1', success: false, code: 'FORBIDDEN' });
    expect(restart.status).toBe(200);
    expect(client.received.filter((r) => r.event.startsWith('console.'))).toEqual([]);
  }, 90_000);

  it('refuses SFTP to a sub-user without a files grant, and lets one with files.read list', async () => {
    const sftp = (await http().get(`/api/v1/servers/${server.id}`).set('Authorization', as(sam.token))).body.sftp as { port: number; username: string };
    const refused = await sftpBatch(sftp.port, sftp.username, { keyFile: samKey }, ['ls']);
    expect(refused.code).not.toBe(0);

    const granted = await http().patch(`${users()}/${sam.id}`).set('Authorization', as(owner.token)).send({ permissions: ['power', 'files.read'] });
    expect(granted.status).toBe(200);
    expect(granted.body).toMatchObject({ user_id: sam.id, permissions: ['power', 'files.read'], name: 'sam' });
    const listed = await sftpBatch(sftp.port, sftp.username, { keyFile: samKey }, ['ls']);
    expect(listed).toMatchObject({ code: 0 });
    const written = await sftpBatch(sftp.port, sftp.username, { keyFile: samKey }, ['mkdir sams-dir']);
    expect(written.code).not.toBe(0);
    const files = await http().get(`/api/v1/servers/${server.id}/files/list`).query({ path: '/' }).set('Authorization', as(sam.token));
    expect(files.status).toBe(200);
  }, 90_000);

  it('ends an open SFTP session of a sub-user within a second of losing files.read, and only that one', async () => {
    const samSession = await openSession(sam.token, { keyFile: samKey });
    const ownerSession = await openSession(owner.token, { keyFile: oliviaKey });

    const narrowed = await http().patch(`${users()}/${sam.id}`).set('Authorization', as(owner.token)).send({ permissions: ['power'] });
    const ended = await endsWithin(samSession, 1000);
    const ownerAnswers = await answers(ownerSession);
    ownerSession.child.kill('SIGKILL');
    // Back to files.read for the tests below, before anything here can fail.
    const restored = await http().patch(`${users()}/${sam.id}`).set('Authorization', as(owner.token)).send({ permissions: ['power', 'files.read'] });

    expect(narrowed.status).toBe(200);
    expect(ended).not.toBeNull();
    expect(ownerAnswers).toBe(true);
    expect(restored.status).toBe(200);
  }, 120_000);

  it('lets a sub-user granted `users` manage others only within what it holds itself', async () => {
    const grantUna = await http().post(users()).set('Authorization', as(owner.token)).send({ user_id: una.id, permissions: ['users', 'power', 'files.read'] });
    expect(grantUna.status).toBe(201);

    const tooMuch = await http().post(users()).set('Authorization', as(una.token)).send({ user_id: victor.id, permissions: ['console'] });
    const fine = await http().post(users()).set('Authorization', as(una.token)).send({ user_id: victor.id, permissions: ['power'] });
    const widen = await http().patch(`${users()}/${victor.id}`).set('Authorization', as(una.token)).send({ permissions: ['power', 'files.write'] });
    const narrow = await http().patch(`${users()}/${victor.id}`).set('Authorization', as(una.token)).send({ permissions: ['files.read'] });
    const ownGrant = await http().patch(`${users()}/${una.id}`).set('Authorization', as(una.token)).send({ permissions: ['users', 'power', 'files.read', 'console'] });
    const list = await http().get(users()).set('Authorization', as(una.token));
    const deleteServer = await http().delete(`/api/v1/servers/${server.id}`).set('Authorization', as(una.token));

    expect([tooMuch.status, tooMuch.body.code]).toEqual([403, 'FORBIDDEN']);
    expect(fine.status).toBe(201);
    expect([widen.status, widen.body.code]).toEqual([403, 'FORBIDDEN']);
    expect(narrow.status).toBe(200);
    expect([ownGrant.status, ownGrant.body.code]).toEqual([403, 'FORBIDDEN']);
    expect(list.status).toBe(200);
    expect(list.body.items.map((i: { user_id: string }) => i.user_id)).toEqual([sam.id, una.id, victor.id].sort());
    expect(deleteServer.status).toBe(403);

    // The owner narrows una below what sam holds: una can no longer touch sam.
    const narrowUna = await http().patch(`${users()}/${una.id}`).set('Authorization', as(owner.token)).send({ permissions: ['users', 'power'] });
    expect(narrowUna.status).toBe(200);
    const touchSam = await http().delete(`${users()}/${sam.id}`).set('Authorization', as(una.token));
    expect([touchSam.status, touchSam.body.code]).toEqual([403, 'FORBIDDEN']);
  }, 60_000);

  it('needs the base permission too: a sub-user\'s API key without servers.power cannot power', async () => {
    const key = await http().post('/api/v1/api-keys').set('Authorization', as(sam.token)).send({ name: 'sam-files-only', permissions: ['files.read'] });
    expect(key.status).toBe(201);

    const power = await http().post(`/api/v1/servers/${server.id}/power`).set('Authorization', as(key.body.key)).send({ action: 'start' });
    const files = await http().get(`/api/v1/servers/${server.id}/files/list`).query({ path: '/' }).set('Authorization', as(key.body.key));

    expect(power.status).toBe(403);
    expect(files.status).toBe(200);
  }, 30_000);

  it('applies If-Match to a grant change: a stale version is 412 and changes nothing', async () => {
    const current = await http().get(`/api/v1/servers/${server.id}`).set('Authorization', as(owner.token));
    const stale = await http().patch(`${users()}/${victor.id}`).set('Authorization', as(owner.token)).set('If-Match', `"${current.body.version - 1}"`).send({ permissions: ['console'] });
    const fresh = await http().patch(`${users()}/${victor.id}`).set('Authorization', as(owner.token)).set('If-Match', `"${current.body.version}"`).send({ permissions: ['console'] });

    expect(stale.status).toBe(412);
    expect(fresh.status).toBe(200);
    expect(fresh.body.permissions).toEqual(['console']);
  }, 30_000);

  it('takes every access away at once when a sub-user is removed: REST, socket call, room join and pushes, SFTP', async () => {
    const client = await socketAs(world.stack.gateway.url, sam.token);
    sockets.push(client.socket);
    expect(await client.socket.emitWithAck('subscribe', { room: `server:${server.id}` })).toEqual({ ok: true });
    const sftp = await sftpOf(sam.token);
    const samSession = await openSession(sam.token, { keyFile: samKey });

    const ownerClient = await socketAs(world.stack.gateway.url, owner.token);
    sockets.push(ownerClient.socket);
    expect(await ownerClient.socket.emitWithAck('subscribe', { room: `server:${server.id}` })).toEqual({ ok: true });

    const removed = await http().delete(`${users()}/${sam.id}`).set('Authorization', as(owner.token));
    expect(removed.status).toBe(204);
    // The open session is pushed out (not left to the agent's periodic re-check, 10 s here).
    const sessionEnded = await endsWithin(samSession, 1000);
    const samSeen = client.received.length;
    const ownerSeen = ownerClient.received.length;

    const after = {
      get: (await http().get(`/api/v1/servers/${server.id}`).set('Authorization', as(sam.token))).status,
      power: (await http().post(`/api/v1/servers/${server.id}/power`).set('Authorization', as(sam.token)).send({ action: 'start' })).status,
      files: (await http().get(`/api/v1/servers/${server.id}/files/list`).query({ path: '/' }).set('Authorization', as(sam.token))).status,
      list: (await http().get('/api/v1/servers').set('Authorization', as(sam.token))).body.items.length,
      again: (await http().delete(`${users()}/${sam.id}`).set('Authorization', as(owner.token))).status,
    };
    // Before sam's socket does anything (its next action would look the server up afresh): the
    // owner restarts the server; its state pushes reach the owner, no longer sam (still in the room).
    const restart = await http().post(`/api/v1/servers/${server.id}/power`).set('Authorization', as(owner.token)).send({ action: 'restart' });
    expect(restart.status).toBe(200);
    await world.stack.waitFor('the owner\'s running push', async () => ownerClient.received.slice(ownerSeen).some((r) => r.event === 'server.state' && r.data.state === 'running'), 60_000);
    const pushedToSam = client.received.slice(samSeen).filter((r) => r.event.startsWith('server.') || r.event.startsWith('console.'));
    client.socket.emit('call', { id: 'c2', call: 'servers.command', params: { serverId: server.id, command: 'after-removal' } });
    const result = await world.stack.waitFor('command result', async () => client.received.find((r) => r.event === 'result' && r.data.id === 'c2')?.data);
    const rejoin = await client.socket.emitWithAck('subscribe', { room: `server:${server.id}` });
    const login = await sftpBatch(sftp.port, sftp.username, { keyFile: samKey }, ['ls']);

    expect(sessionEnded).not.toBeNull();
    expect(pushedToSam).toEqual([]);
    expect(after).toEqual({ get: 404, power: 404, files: 404, list: 0, again: 404 });
    expect(result).toMatchObject({ id: 'c2', success: false });
    expect(rejoin).toMatchObject({ code: expect.stringMatching(/NOT_FOUND|FORBIDDEN/) });
    expect(login.code).not.toBe(0);
  }, 120_000);

  it('lets a sub-user leave a server itself, and lets servers.manage manage anyone\'s sub-users', async () => {
    const leave = await http().delete(`${users()}/${victor.id}`).set('Authorization', as(victor.token));
    const byAdmin = await http().post(users()).set('Authorization', as(world.admin)).send({ email: 'victor@files.test', permissions: ['power', 'console'] });
    const adminList = await http().get(users()).set('Authorization', as(world.admin));

    expect(leave.status).toBe(204);
    expect(byAdmin.status).toBe(201);
    expect(adminList.body.items.map((i: { user_id: string }) => i.user_id)).toContain(victor.id);
  }, 30_000);

  it('ends every open SFTP session of a deleted server, and of a disabled user, within a second', async () => {
    const doomed = await world.server('doomed', owner.id);
    expect((await http().post(users(doomed.id)).set('Authorization', as(owner.token)).send({ user_id: una.id, permissions: ['files.read'] })).status).toBe(201);
    const unaKey = join(keys, 'una_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'laptop', '-f', unaKey]);
    expect((await http().post('/api/v1/users/me/ssh-keys').set('Authorization', as(una.token)).send({ name: 'laptop', public_key: readFileSync(`${unaKey}.pub`, 'utf8') })).status).toBe(201);
    const unaOnDoomed = await openSession(una.token, { keyFile: unaKey }, doomed.id);
    const oliviaOnDoomed = await openSession(owner.token, { keyFile: oliviaKey }, doomed.id);
    const oliviaOnShared = await openSession(owner.token, { keyFile: oliviaKey });

    const deleted = await http().delete(`/api/v1/servers/${doomed.id}`).set('Authorization', as(owner.token));
    const endedOnDelete = await Promise.all([endsWithin(unaOnDoomed, 1000), endsWithin(oliviaOnDoomed, 1000)]);
    const sharedStillAnswers = await answers(oliviaOnShared);
    const disabled = await http().patch(`/api/v1/users/${owner.id}`).set('Authorization', as(world.admin)).send({ disabled: true });
    const endedOnDisable = await endsWithin(oliviaOnShared, 1000);

    expect(deleted.status).toBeLessThan(300);
    expect(endedOnDelete).toEqual([expect.any(Number), expect.any(Number)]);
    expect(sharedStillAnswers).toBe(true);
    expect(disabled.status).toBe(200);
    expect(endedOnDisable).not.toBeNull();
  }, 180_000);
});
