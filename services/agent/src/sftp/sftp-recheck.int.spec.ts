import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, utils } from 'ssh2';
import type { SftpAccessReply } from '@encedeus/contracts';
import type { CommandClient } from '@encedeus/messaging';
import { sshKeyFingerprint } from '@encedeus/security';
import { SftpServer } from './sftp-server';

/**
 * Issue 14: `sftp_recheck` from the nodes service ends or re-checks exactly the sessions it names,
 * at once, with the periodic re-check an hour away. The real ssh2 server and client are used; the
 * auth service's answers are given here. The whole flow, with OpenSSH, is in
 * services/gateway/test/server-subusers.e2e.spec.ts.
 */
describe('SftpServer.recheckNow', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'encedeus-sftp-recheck-'));
  const serverDir = mkdtempSync(join(tmpdir(), 'encedeus-sftp-recheck-dir-'));
  const servers = [randomUUID(), randomUUID()];
  const users: Record<string, string> = { ann: randomUUID(), bob: randomUUID(), cat: randomUUID(), dan: randomUUID() };
  /** Fingerprints of the SSH keys still registered: a re-check naming another one is refused (401). */
  const registered = new Set<string>();
  /** The `key_fingerprint` of each `sftp_access` asked (undefined for a password session). */
  const fingerprints: (string | undefined)[] = [];
  /** When the users' passwords were set, as a password login answers it: a re-check naming an older one is refused (401). */
  const passwordSetAt: Record<string, string> = {};
  /** The `password_changed_at` of each `sftp_access` asked (undefined for a key session). */
  const passwordTimes: (string | undefined)[] = [];
  /** `user id/server id` pairs the auth service refuses (403) from now on. */
  const refused = new Set<string>();
  const asked: string[] = [];
  const commands = {
    send: async (
      _service: string,
      verb: string,
      data: { user_name?: string; user_id?: string; server_id: string; password?: string; key_fingerprint?: string; password_changed_at?: string },
    ) => {
      const userId = data.user_id ?? users[data.user_name!];
      if (verb === 'sftp_access') {
        asked.push(`${userId}/${data.server_id}`);
        fingerprints.push(data.key_fingerprint);
        passwordTimes.push(data.password_changed_at);
        if (data.key_fingerprint && !registered.has(data.key_fingerprint)) throw Object.assign(new Error('The SSH key of this session was removed'), { code: 'UNAUTHENTICATED' });
        if (data.password_changed_at && data.password_changed_at !== passwordSetAt[userId]) throw Object.assign(new Error('The password of this session was changed'), { code: 'UNAUTHENTICATED' });
      }
      if (refused.has(`${userId}/${data.server_id}`)) throw Object.assign(new Error('You may not use the files of this server'), { code: 'FORBIDDEN' });
      const passwordLogin = verb === 'sftp_login' && data.password !== undefined && passwordSetAt[userId] !== undefined;
      return {
        user_id: userId,
        user_name: data.user_name ?? '?',
        server_id: data.server_id,
        allowed: ['files.read'],
        ...(passwordLogin ? { password_changed_at: passwordSetAt[userId] } : {}),
      } satisfies SftpAccessReply;
    },
  } as unknown as CommandClient;
  let server: SftpServer;
  const clients: Client[] = [];

  beforeAll(async () => {
    server = new SftpServer({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      recheckMs: 3_600_000,
      nodeId: () => randomUUID(),
      commands: () => commands,
      servers: () => servers,
      serverDir: () => serverDir,
      log: () => undefined,
    });
    await server.start();
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(serverDir, { recursive: true, force: true });
  });

  /** A logged-in connection of `user` on `serverId` (with a password, or `privateKey`), and whether it closed within a second from now. */
  const login = (user: string, serverId: string, privateKey?: string) =>
    new Promise<{ client: Client; closesWithin: () => Promise<boolean> }>((resolve, reject) => {
      const client = new Client();
      clients.push(client);
      const closed = new Promise<true>((done) => client.once('close', () => done(true)));
      const closesWithin = () => Promise.race([closed, new Promise<false>((r) => setTimeout(() => r(false), 1000))]);
      client.once('ready', () => resolve({ client, closesWithin }));
      client.once('error', reject);
      const credential = privateKey ? { privateKey } : { password: 'any' };
      client.connect({ host: '127.0.0.1', port: server.port, username: `${user}.${serverId.slice(0, 8)}`, ...credential, readyTimeout: 10_000 });
    });
  /** Whether a connection still serves SFTP: it lists its server's directory. */
  const serves = (client: Client) =>
    new Promise<boolean>((resolve) =>
      client.sftp((error, sftp) => (error ? resolve(false) : sftp.readdir('/', (e) => resolve(!e)))),
    );

  it('ends the named user\'s session on the named server at once, and leaves every other session', async () => {
    const annOnFirst = await login('ann', servers[0]);
    const annOnSecond = await login('ann', servers[1]);
    const bobOnFirst = await login('bob', servers[0]);

    const result = await server.recheckNow({ server_id: servers[0], user_id: users.ann, revoked: true });

    expect(result).toEqual({ sessions: 1 });
    expect(await annOnFirst.closesWithin()).toBe(true);
    expect([await serves(annOnSecond.client), await serves(bobOnFirst.client)]).toEqual([true, true]);
  });

  it('re-checks without `revoked` and ends only the sessions the auth service refuses', async () => {
    const bobOnFirst = await login('bob', servers[0]);
    const bobOnSecond = await login('bob', servers[1]);
    refused.add(`${users.bob}/${servers[0]}`);
    asked.length = 0;

    const result = await server.recheckNow({ user_id: users.bob });

    // Bob's session of the first test too: every session of his on this node is asked about.
    expect(result).toEqual({ sessions: 3 });
    expect(asked.sort()).toEqual([`${users.bob}/${servers[0]}`, `${users.bob}/${servers[0]}`, `${users.bob}/${servers[1]}`].sort());
    expect(await bobOnFirst.closesWithin()).toBe(true);
    expect(await serves(bobOnSecond.client)).toBe(true);
  });

  it("has the auth service re-check a key session's key by the fingerprint the users service records, and ends it once the key is gone", async () => {
    const [kept, removed] = [utils.generateKeyPairSync('ed25519'), utils.generateKeyPairSync('ed25519')];
    const fingerprintOf = (publicKey: string) => sshKeyFingerprint((utils.parseKey(publicKey) as ReturnType<typeof utils.parseKey> & { getPublicSSH(): Buffer }).getPublicSSH());
    for (const key of [kept, removed]) registered.add(fingerprintOf(key.public));
    const byPassword = await login('cat', servers[0]);
    const byKept = await login('cat', servers[0], kept.private);
    const byRemoved = await login('cat', servers[0], removed.private);
    registered.delete(fingerprintOf(removed.public));
    fingerprints.length = 0;

    const result = await server.recheckNow({ user_id: users.cat });

    expect(result).toEqual({ sessions: 3 });
    expect(fingerprints.sort()).toEqual([fingerprintOf(kept.public), fingerprintOf(removed.public), undefined].sort());
    expect(await byRemoved.closesWithin()).toBe(true);
    expect([await serves(byPassword.client), await serves(byKept.client)]).toEqual([true, true]);
  });

  it('has the auth service re-check a password session against the password time its login answered, and ends it once the password changed', async () => {
    const key = utils.generateKeyPairSync('ed25519');
    registered.add(sshKeyFingerprint((utils.parseKey(key.public) as ReturnType<typeof utils.parseKey> & { getPublicSSH(): Buffer }).getPublicSSH()));
    passwordSetAt[users.dan] = '2026-12-01T10:00:00.000001Z';
    const byOldPassword = await login('dan', servers[0]);
    const byKey = await login('dan', servers[0], key.private);
    passwordSetAt[users.dan] = '2026-12-01T10:05:00.000002Z';
    const byNewPassword = await login('dan', servers[0]);
    passwordTimes.length = 0;

    const result = await server.recheckNow({ user_id: users.dan });

    expect(result).toEqual({ sessions: 3 });
    expect(passwordTimes.sort()).toEqual(['2026-12-01T10:00:00.000001Z', '2026-12-01T10:05:00.000002Z', undefined].sort());
    expect(await byOldPassword.closesWithin()).toBe(true);
    expect([await serves(byKey.client), await serves(byNewPassword.client)]).toEqual([true, true]);
  });

  it('asks again shortly after a pushed re-check, so a read model that applies the change a moment late still ends the session', async () => {
    const danOnSecond = await login('dan', servers[1]);
    // The push arrives before the auth service's read model holds the change: the first answer still allows.
    await server.recheckNow({ user_id: users.dan });
    expect(await serves(danOnSecond.client)).toBe(true);
    refused.add(`${users.dan}/${servers[1]}`);
    const closed = new Promise<true>((done) => danOnSecond.client.once('close', () => done(true)));
    expect(await Promise.race([closed, new Promise<false>((r) => setTimeout(() => r(false), 6_000))])).toBe(true);
  });

  it('refuses a malformed notice', async () => {
    const attempts = [{ server_id: 42 }, { user_id: ['x'] }, { revoked: 'yes' }, null, { user_id: 'not-a-uuid' }, { user_id: users.ann, shell: 'rm -rf /' }].map((cmd) => server.recheckNow(cmd).then(() => 'ok', (e: { code: string }) => e.code));

    expect(await Promise.all(attempts)).toEqual(Array(6).fill('VALIDATION_FAILED'));
  });
});
