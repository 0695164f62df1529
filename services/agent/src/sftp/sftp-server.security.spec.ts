import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, utils, type AuthenticationType, type FileEntry, type SFTPWrapper } from 'ssh2';
import type { SftpAccessReply } from '@encedeus/contracts';
import type { CommandClient } from '@encedeus/messaging';
import { SftpServer } from './sftp-server';

/**
 * Issue 11, resource attacks on the agent's SFTP port (the real ssh2 server of the agent, the real
 * ssh2 client; the auth service's answer is given here: these attacks are about what the agent holds
 * open, not who may log in — logins are tested end to end in services/gateway/test/sftp*.spec.ts).
 */
describe('SftpServer (security)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'encedeus-sftp-res-'));
  const serverDir = mkdtempSync(join(tmpdir(), 'encedeus-sftp-res-dir-'));
  const serverId = randomUUID();
  const userName = 'alice';
  const reply: SftpAccessReply = { user_id: randomUUID(), user_name: userName, server_id: serverId, allowed: ['files.read', 'files.write', 'files.delete'] };
  // The auth service's yes to the one right password.
  const commands = {
    send: async (_service: string, _verb: string, data: { password?: string }) => {
      if (data.password !== undefined && data.password !== 'right') throw Object.assign(new Error('Invalid user name or password'), { code: 'UNAUTHENTICATED' });
      return reply;
    },
  } as unknown as CommandClient;
  let server: SftpServer;

  beforeAll(async () => {
    server = new SftpServer({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      recheckMs: 60_000,
      nodeId: () => randomUUID(),
      commands: () => commands,
      servers: () => [serverId],
      serverDir: () => serverDir,
      loginGraceMs: 1500,
      log: () => undefined,
    });
    await server.start();
  });

  afterAll(async () => {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(serverDir, { recursive: true, force: true });
  });

  /** A raw TCP connection to the SFTP port that never says anything; resolves `closed` when the server drops it. */
  const idle = () =>
    new Promise<{ socket: Socket; closed: Promise<void> }>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1');
      const closed = new Promise<void>((done) => socket.once('close', () => done()));
      socket.on('error', () => undefined);
      // Flowing, so the server's close is seen (the banner is read and dropped).
      socket.resume();
      socket.once('connect', () => resolve({ socket, closed }));
      socket.once('error', reject);
    });
  const within = (p: Promise<void>, ms: number) => Promise.race([p.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), ms))]);

  it('drops a connection that never sends its version line once the login grace is over', async () => {
    const { socket, closed } = await idle();
    try {
      // ssh2 meets a connection only after its version line: before, no grace applied at all.
      expect(await within(closed, 5_000)).toBe(true);
    } finally {
      socket.destroy();
    }
  }, 10_000);

  it('caps the connections one address holds open without logging in', async () => {
    const sockets = await Promise.all(Array.from({ length: 40 }, () => idle()));
    try {
      const dropped = await Promise.all(sockets.map((s) => within(s.closed, 500)));
      // The first ones wait for their grace; the rest are closed at once.
      expect(dropped.filter((d) => !d).length).toBeLessThanOrEqual(16);
      expect(dropped.filter((d) => d).length).toBeGreaterThanOrEqual(24);
    } finally {
      for (const s of sockets) s.socket.destroy();
    }
    // Once they are gone, a client logs in again.
    await new Promise((r) => setTimeout(r, 300));
    const client = await login();
    client.end();
  }, 15_000);

  const login = () =>
    new Promise<Client>((resolve, reject) => {
      const client = new Client();
      client.once('ready', () => resolve(client));
      client.once('error', reject);
      client.connect({ host: '127.0.0.1', port: server.port, username: `${userName}.${serverId.slice(0, 8)}`, password: 'right', readyTimeout: 10_000 });
    });
  const sftpOf = (client: Client) =>
    new Promise<SFTPWrapper | Error>((resolve) => {
      try {
        client.sftp((error, sftp) => resolve(error ?? sftp));
      } catch (error) {
        // Already disconnected.
        resolve(error as Error);
      }
    });

  it('lets one connection open at most 10 SFTP sessions (each may hold 256 handles)', async () => {
    const client = await login();
    try {
      const opened = await Promise.all(Array.from({ length: 30 }, () => sftpOf(client)));
      expect(opened.filter((o) => !(o instanceof Error)).length).toBe(10);
      // A session closed makes room for another.
      (opened.find((o) => !(o instanceof Error)) as SFTPWrapper).end();
      await new Promise((r) => setTimeout(r, 300));
      expect(await sftpOf(client)).not.toBeInstanceOf(Error);
    } finally {
      client.end();
    }
  }, 15_000);

  const opendir = (sftp: SFTPWrapper, path: string) => new Promise<Buffer | Error>((resolve) => sftp.opendir(path, (error, handle) => resolve(error ?? handle)));
  /** One READDIR, `.` and `..` kept (ssh2's `full`, missing from its typings); false at EOF. */
  const readdir = (sftp: SFTPWrapper, handle: Buffer) =>
    new Promise<string[] | false>((resolve, reject) => {
      const full = sftp.readdir as unknown as (this: SFTPWrapper, h: Buffer, opts: { full: boolean }, cb: (error: (Error & { code?: number }) | undefined, list: FileEntry[]) => void) => void;
      full.call(sftp, handle, { full: true }, (error, list) => (error ? (error.code === 1 ? resolve(false) : reject(error)) : resolve(list.map((e) => e.filename))));
    });

  it('holds no directory listing in memory for an open directory handle (the server can make millions of names)', async () => {
    const big = join(serverDir, 'big');
    mkdirSync(big);
    const count = 20_000;
    for (let i = 0; i < count; i++) closeSync(openSync(join(big, `file-with-a-longish-name-${i}`), 'w'));
    const client = await login();
    try {
      const sftp = (await sftpOf(client)) as SFTPWrapper;
      // Every name is still listed, `.` and `..` first.
      const first = (await opendir(sftp, '/big')) as Buffer;
      const names: string[] = [];
      for (let batch = await readdir(sftp, first); batch; batch = await readdir(sftp, first)) names.push(...batch);
      expect(names.slice(0, 2)).toEqual(['.', '..']);
      expect(names.length).toBe(count + 2);
      expect(new Set(names).size).toBe(count + 2);

      const before = process.memoryUsage().heapUsed;
      const handles = await Promise.all(Array.from({ length: 150 }, () => opendir(sftp, '/big')));
      expect(handles.filter((h) => h instanceof Error)).toEqual([]);
      // Held whole, 150 listings of 20 000 names are hundreds of MiB of the agent's heap.
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
    } finally {
      client.end();
      rmSync(big, { recursive: true, force: true });
    }
  }, 120_000);

  it('caps the handles of one connection over all its SFTP sessions', async () => {
    const client = await login();
    try {
      const a = (await sftpOf(client)) as SFTPWrapper;
      const b = (await sftpOf(client)) as SFTPWrapper;
      const first = await Promise.all(Array.from({ length: 256 }, () => opendir(a, '/')));
      expect(first.filter((h) => h instanceof Error)).toEqual([]);
      // The second session of the same connection gets no fresh 256.
      expect(await opendir(b, '/')).toBeInstanceOf(Error);
      // Closing one handle makes room.
      await new Promise<void>((resolve, reject) => a.close(first[0] as Buffer, (error) => (error ? reject(error) : resolve())));
      expect(await opendir(b, '/')).not.toBeInstanceOf(Error);
    } finally {
      client.end();
    }
  }, 30_000);

  it('caps the connections one user holds logged in', async () => {
    const clients: Client[] = [];
    try {
      for (let i = 0; i < 16; i++) clients.push(await login());
      const sessions = await Promise.all(clients.map((c) => sftpOf(c)));
      expect(sessions.filter((s) => s instanceof Error)).toEqual([]);
      // The 17th logs in but is dropped before it can open anything.
      const extra = await login().catch((error: Error) => error);
      if (!(extra instanceof Error)) {
        clients.push(extra);
        expect(await sftpOf(extra)).toBeInstanceOf(Error);
      }
      // One closed makes room again.
      clients.shift()!.end();
      await new Promise((r) => setTimeout(r, 300));
      const again = await login();
      clients.push(again);
      expect(await sftpOf(again)).not.toBeInstanceOf(Error);
    } finally {
      for (const c of clients) c.end();
    }
  }, 30_000);

  it('drops a connection that asks for more and more while it reads none of the answers', async () => {
    writeFileSync(join(serverDir, 'one-mib.bin'), Buffer.alloc(1024 * 1024, 7));
    const client = await login();
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', () => undefined);
    try {
      const sftp = (await sftpOf(client)) as SFTPWrapper;
      const handle = await new Promise<Buffer>((resolve, reject) => sftp.open('/one-mib.bin', 'r', (error, h) => (error ? reject(error) : resolve(h))));
      // The client stops reading its socket and keeps asking: 2 000 READs of ~32 KiB are ~64 MiB of answers.
      const socket = (client as unknown as { _sock: Socket })._sock;
      socket.pause();
      let answered = 0;
      const reads = Array.from(
        { length: 2000 },
        () => new Promise<void>((resolve) => sftp.read(handle, Buffer.alloc(32 * 1024), 0, 32 * 1024, 0, (error) => (error ? resolve() : (answered++, resolve())))),
      );
      await new Promise((r) => setTimeout(r, 3000));
      socket.resume();
      // The agent dropped it rather than holding every answer in memory.
      expect(await within(closed, 10_000)).toBe(true);
      await Promise.race([Promise.all(reads), new Promise((r) => setTimeout(r, 2000))]);
      expect(answered).toBeLessThan(1000);
    } finally {
      client.end();
      rmSync(join(serverDir, 'one-mib.bin'), { force: true });
    }
  }, 30_000);

  it('drops a connection with more than 256 requests in flight (each READ takes a 64 KiB buffer at once)', async () => {
    writeFileSync(join(serverDir, 'flight.bin'), Buffer.alloc(256 * 1024, 7));
    const client = await login();
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', () => undefined);
    try {
      const sftp = (await sftpOf(client)) as SFTPWrapper;
      const handle = await new Promise<Buffer>((resolve, reject) => sftp.open('/flight.bin', 'r', (error, h) => (error ? reject(error) : resolve(h))));
      // A well-behaved window of them first: 64 at a time, as OpenSSH's sftp, is served.
      // One buffer for every answer on this side: what is measured below is the agent's.
      const into = Buffer.alloc(32 * 1024);
      const batch = (n: number) => Promise.all(Array.from({ length: n }, () => new Promise<boolean>((resolve) => sftp.read(handle, into, 0, into.length, 0, (error) => resolve(!error)))));
      expect((await batch(64)).every(Boolean)).toBe(true);
      // 5 000 at once: the agent would allocate 5 000 buffers before answering any; it serves at most 256.
      const base = process.memoryUsage().arrayBuffers;
      let peak = 0;
      const sampling = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers - base)), 2);
      const burst = batch(5000);
      expect(await within(closed, 10_000)).toBe(true);
      clearInterval(sampling);
      expect((await burst).filter(Boolean).length).toBeLessThanOrEqual(256);
      // 256 buffers of 32 KiB are 8 MiB; 5 000 would be 160 MiB.
      expect(peak).toBeLessThan(48 * 1024 * 1024);
    } finally {
      client.end();
      rmSync(join(serverDir, 'flight.bin'), { force: true });
    }
  }, 30_000);

  /** Whether a login with this auth handler gets in (ready), or is refused. */
  const tries = (auth: AuthenticationType[] | ((methodsLeft: unknown, partial: unknown, next: (a: unknown) => void) => void), extra: object = {}) =>
    new Promise<boolean>((resolve) => {
      const client = new Client();
      client.once('ready', () => (client.end(), resolve(true)));
      client.once('error', () => resolve(false));
      client.once('close', () => resolve(false));
      client.connect({ host: '127.0.0.1', port: server.port, username: `${userName}.${serverId.slice(0, 8)}`, readyTimeout: 10_000, authHandler: auth as never, ...extra });
    });

  it('held: a key whose signature does not verify, keyboard-interactive and none are refused (the key itself is "registered" here)', async () => {
    const { private: privateKey } = utils.generateKeyPairSync('ed25519');
    const key = (forge: boolean) => {
      const parsed = utils.parseKey(privateKey) as ReturnType<typeof utils.parseKey> & { sign: (data: Buffer, algo?: string) => Buffer };
      if (forge) parsed.sign = () => Buffer.alloc(64, 1);
      return parsed;
    };
    const once = (a: object) => {
      let used = false;
      return (_left: unknown, _partial: unknown, next: (a: unknown) => void) => next(used ? false : ((used = true), { username: `${userName}.${serverId.slice(0, 8)}`, ...a }));
    };
    expect(await tries(once({ type: 'publickey', key: key(false) }))).toBe(true);
    expect(await tries(once({ type: 'publickey', key: key(true) }))).toBe(false);
    expect(await tries(once({ type: 'keyboard-interactive', prompt: (_n: unknown, _i: unknown, _l: unknown, _p: unknown, finish: (r: string[]) => void) => finish(['right']) }))).toBe(false);
    expect(await tries(once({ type: 'none' }))).toBe(false);
  }, 30_000);

  it('held: no shell, exec, other subsystem, port or socket forwarding on a logged-in connection', async () => {
    const client = await login();
    try {
      const refused = (start: (cb: (error?: Error | null) => void) => void) => new Promise<boolean>((resolve) => start((error) => resolve(!!error)));
      expect(await refused((cb) => client.exec('id', (e) => cb(e)))).toBe(true);
      expect(await refused((cb) => client.shell((e) => cb(e)))).toBe(true);
      expect(await refused((cb) => client.subsys('netconf', (e) => cb(e)))).toBe(true);
      expect(await refused((cb) => client.forwardOut('127.0.0.1', 0, '127.0.0.1', server.port, (e) => cb(e)))).toBe(true);
      expect(await refused((cb) => client.forwardIn('127.0.0.1', 0, (e) => cb(e)))).toBe(true);
      expect(await refused((cb) => client.openssh_forwardOutStreamLocal('/run/docker.sock', (e) => cb(e)))).toBe(true);
      expect(await refused((cb) => client.openssh_forwardInStreamLocal(join(dataDir, 'sock'), (e) => cb(e)))).toBe(true);
      // The connection still serves SFTP.
      expect(await sftpOf(client)).not.toBeInstanceOf(Error);
    } finally {
      client.end();
    }
  }, 30_000);
});
