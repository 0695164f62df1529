import { createHash, randomUUID } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { AuthContext, Connection, PublicKeyAuthContext, Server, SFTPWrapper } from 'ssh2';
import {
  AuthVerbs,
  DomainError,
  parseSftpUsername,
  sftpRecheckCommandSchema,
  Subjects,
  type SftpAccessReply,
  type SftpAction,
} from '@encedeus/contracts';
import type { CommandClient } from '@encedeus/messaging';
import type { DiskQuota } from '../files/disk-quota';
import { ServerJail } from '../files/server-jail';
import type { HandleBudget, SftpChange } from './sftp-session';

type Ssh2 = typeof import('ssh2');
type SessionModule = typeof import('./sftp-session');
let loaded: { ssh2: Ssh2; SftpSession: SessionModule['SftpSession'] } | undefined;

/**
 * ssh2 and the SFTP session code, loaded at the first SFTP connection (or host key creation), not
 * at start: an agent nobody reaches over SFTP does not carry them (about 12 MiB of RSS, issue 14).
 */
function ssh(): { ssh2: Ssh2; SftpSession: SessionModule['SftpSession'] } {
  loaded ??= { ssh2: require('ssh2') as Ssh2, SftpSession: (require('./sftp-session') as SessionModule).SftpSession };
  return loaded;
}

/** The host key file in the agent's data directory (OpenSSH format, 0600). */
export const SFTP_HOST_KEY_FILE = 'sftp_host_ed25519_key';
/** Seconds a connection has to log in. */
const LOGIN_GRACE_MS = 60_000;
/** Failed logins one connection may make before it is dropped. */
const MAX_AUTH_FAILURES = 6;
/**
 * Connections not logged in yet, in all and from one address (like sshd's MaxStartups and
 * PerSourceMaxStartups): beyond them a new connection is closed at once.
 */
const MAX_UNAUTHENTICATED = 128;
const MAX_UNAUTHENTICATED_PER_IP = 16;
/** Session channels one connection may hold open (sshd's MaxSessions). */
const MAX_SESSIONS = 10;
/**
 * Answers one connection may have waiting to be sent (ssh2 buffers them without limit when the client's
 * window is shut or it does not read its socket: READ requests of 30 bytes would pile up 64 KiB each in
 * the agent's memory). OpenSSH's sftp has 2 MiB in flight; beyond this the connection is dropped.
 */
const MAX_BACKLOG_BYTES = 16 * 1024 * 1024;
/**
 * Requests one connection may have being served at once (ssh2 parses a whole window of them at once, and
 * each READ takes a 64 KiB buffer before any answer leaves): OpenSSH's sftp keeps 64 in flight; beyond
 * this the connection is dropped.
 */
const MAX_IN_FLIGHT = 256;
/** Connections one user may hold logged in on this node (each may hold MAX_HANDLES open files and directories). */
const MAX_CONNECTIONS_PER_USER = 16;
/** How long a login check may take. */
const LOGIN_TIMEOUT_MS = 10_000;
/** Answers of the auth service that end a session: the user is gone or disabled, its key removed or password changed, the server hidden, no SFTP action left. */
const DEFINITIVE = new Set(['UNAUTHENTICATED', 'NOT_FOUND', 'FORBIDDEN']);
/** Sessions re-checked at once by one `sftp_recheck`: a role change re-checks them all, without a burst on the auth service. */
const RECHECK_CONCURRENCY = 16;
/**
 * A pushed `sftp_recheck` follows the nodes service's commit of the change, but the auth service
 * answers from the users service's read model, which may apply the same event a moment later (on a
 * loaded machine, seconds): the matching sessions are asked again this long after the push, so that
 * lag does not leave them to the periodic round.
 */
const RECHECK_FOLLOW_UPS_MS = [1_000, 4_000];

/** What the SFTP server needs of its agent. */
export interface SftpServerOptions {
  dataDir: string;
  host: string;
  /** 0 takes a free port. */
  port: number;
  recheckMs: number;
  nodeId: () => string;
  /** The agent's command client on its NATS connection (undefined while disconnected). */
  commands: () => CommandClient | undefined;
  /** Ids of the servers this agent runs. */
  servers: () => string[];
  serverDir: (serverId: string) => string;
  /** The server's disk use against its limit (disk-quota.ts); absent: nothing is refused. */
  quota?: (serverId: string) => Promise<DiskQuota>;
  /** How long a connection has to log in (tests shorten it). @default 60 s */
  loginGraceMs?: number;
  /** A write, rename or delete done over SFTP, by whom. */
  changed?: (change: SftpChange & { server_id: string; user_id: string }) => void;
  log: (message: string) => void;
}

/** The host key, generated once (ed25519) and kept in the data directory. */
export async function loadOrCreateHostKey(dataDir: string): Promise<string> {
  const file = join(dataDir, SFTP_HOST_KEY_FILE);
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const { private: key } = ssh().ssh2.utils.generateKeyPairSync('ed25519');
  // `wx`: two agents racing on one data dir keep the first key.
  await writeFile(file, key, { mode: 0o600, flag: 'wx' }).catch((error) => ((error as NodeJS.ErrnoException).code === 'EEXIST' ? undefined : Promise.reject(error)));
  await chmod(file, 0o600);
  return readFile(file, 'utf8');
}

/** Whether the client's signature over the session data is made by the key it offered. */
function verifySignature(ctx: PublicKeyAuthContext): boolean {
  // The key's own type is the blob's first field (ctx.key.algo may name a signature algorithm, e.g. rsa-sha2-256).
  const data = ctx.key.data;
  if (data.length < 4 || data.readUInt32BE(0) > data.length - 4) return false;
  const type = data.subarray(4, 4 + data.readUInt32BE(0)).toString('latin1');
  const key = ssh().ssh2.utils.parseKey(`${type} ${data.toString('base64')}`);
  if (key instanceof Error || Array.isArray(key)) return false;
  return key.verify(ctx.blob!, ctx.signature!, ctx.hashAlgo) === true;
}

interface LiveSession {
  client: Connection;
  serverId: string;
  userId: string;
  allowed: Set<SftpAction>;
  /** Handles open over all SFTP sessions of the connection. */
  handles: HandleBudget;
  /** The connection's open SFTP subsystems. */
  sftps: Set<SFTPWrapper>;
  /** Re-checks asked so far, and the latest of them whose answer was applied (see recheckSession). */
  checks?: { asked: number; applied: number };
  /** The fingerprint of the SSH key the session logged in with (none for a password): each re-check asks that it is still registered. */
  keyFingerprint?: string;
  /** Of a password login: when that password was set, as its login answered; each re-check asks that it has not changed since. */
  passwordChangedAt?: string;
}

/** OpenSSH's fingerprint of a key blob, as the users service records registered keys: `SHA256:` and unpadded base64. */
function fingerprintOf(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** ssh2's socket of a connection (not in its typings). */
function socketOf(client: Connection): Socket {
  return (client as unknown as { _sock: Socket })._sock;
}

/**
 * The node's SFTP server (ssh2): one port for every server of the node. A user logs in as
 * `<user name>.<first 8 characters of the server id>` with their Encedeus password or one of their
 * registered SSH keys (the signature verified here), checked by the auth service
 * (`cmd.auth.sftp_login`, answered on `agent.<id>.reply.<n>`), and is chrooted to that
 * server's directory through the file manager's jail. Each open session is re-checked every
 * `recheckMs` (`cmd.auth.sftp_access`): a disabled user, a hidden server, no SFTP permission left,
 * the removal of the SSH key it logged in with or a change of the password it logged in with ends it;
 * a changed permission applies to the next request. The nodes service does not wait for that: right
 * after a change that may end sessions it sends `sftp_recheck` (recheckNow), and the periodic
 * re-check stays as the backstop for a notice that did not arrive.
 */
export class SftpServer {
  /** The ssh2 server, made at the first connection (with the host key, generated then the first time). */
  private server?: Promise<Server>;
  private listener?: NetServer;
  /** Connections not logged in yet, by remote address; the release of each (socket → release). */
  private readonly unauthenticated = new Map<string, number>();
  private readonly loginPending = new WeakMap<Socket, () => void>();
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<LiveSession>();
  private timer?: NodeJS.Timeout;
  private boundPort = 0;
  private rechecking = false;
  private readonly followUps = new Set<NodeJS.Timeout>();

  constructor(private readonly options: SftpServerOptions) {}

  /** The port listened on (after start). */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    // Our own listener hands sockets to ssh2: ssh2 meets a connection only once it sent its version
    // line, so a socket that never sends one would be kept forever; the login grace and the caps on
    // connections not logged in yet start here, at accept(2).
    this.listener = createServer((socket) => this.admit(socket));
    await new Promise<void>((resolve, reject) => {
      this.listener!.once('error', reject);
      this.listener!.listen(this.options.port, this.options.host, () => {
        this.listener!.off('error', reject);
        resolve();
      });
    });
    this.listener.on('error', (error: Error) => this.options.log(`sftp: ${error.message}`));
    this.boundPort = (this.listener.address() as AddressInfo).port;
    this.timer = setInterval(() => void this.recheck(), this.options.recheckMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const t of this.followUps) clearTimeout(t);
    this.followUps.clear();
    for (const s of this.sessions) s.client.end();
    this.sessions.clear();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.listener ? this.listener.close(() => resolve()) : resolve()));
  }

  /** A new TCP connection: counted as not logged in (refused beyond the caps) and dropped if it has not logged in within the grace. */
  private admit(socket: Socket): void {
    const ip = socket.remoteAddress ?? '?';
    const total = [...this.unauthenticated.values()].reduce((a, b) => a + b, 0);
    if (total >= MAX_UNAUTHENTICATED || (this.unauthenticated.get(ip) ?? 0) >= MAX_UNAUTHENTICATED_PER_IP) return void socket.destroy();
    this.unauthenticated.set(ip, (this.unauthenticated.get(ip) ?? 0) + 1);
    const grace = setTimeout(() => socket.destroy(), this.options.loginGraceMs ?? LOGIN_GRACE_MS);
    grace.unref();
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      clearTimeout(grace);
      const left = (this.unauthenticated.get(ip) ?? 1) - 1;
      if (left > 0) this.unauthenticated.set(ip, left);
      else this.unauthenticated.delete(ip);
    };
    this.sockets.add(socket);
    socket.once('close', () => {
      release();
      this.sockets.delete(socket);
    });
    socket.on('error', () => undefined);
    this.loginPending.set(socket, release);
    // Until ssh2 takes it the socket is paused: what the client sent waits in its buffer.
    this.sshServer().then(
      (server) => (socket.destroyed ? undefined : server.injectSocket(socket)),
      (error: Error) => {
        this.options.log(`sftp: ${error.message}`);
        socket.destroy();
      },
    );
  }

  private sshServer(): Promise<Server> {
    this.server ??= loadOrCreateHostKey(this.options.dataDir).then((hostKey) => {
      const server = new (ssh().ssh2.Server)({ hostKeys: [hostKey], ident: 'Encedeus-Skyhook' }, (client, info) => this.accept(client, info.ip));
      server.on('error', (error: Error) => this.options.log(`sftp: ${error.message}`));
      return server;
    });
    // A failed host key is tried again at the next connection.
    this.server.catch(() => (this.server = undefined));
    return this.server;
  }

  private accept(client: Connection, ip: string): void {
    let session: LiveSession | undefined;
    let failures = 0;
    // Like sshd's MaxAuthTries: a connection that keeps failing is dropped (the login grace runs from admit()).
    client.on('error', () => undefined);
    client.on('authentication', (ctx) =>
      void this.authenticate(ctx, ip).then((s) => {
        if (!s) {
          // OpenSSH opens with a `none` attempt to learn the methods: that one is not a failure.
          if (ctx.method !== 'none' && ++failures >= MAX_AUTH_FAILURES) return void client.end();
          return ctx.reject(['publickey', 'password']);
        }
        // The session starts only with a verified login (a key with its signature, or a password).
        if (ctx.method === 'password' || (ctx.method === 'publickey' && ctx.signature)) session = { ...s, client, handles: { open: 0, inFlight: 0 }, sftps: new Set() };
        ctx.accept();
      }),
    );
    client.on('ready', () => {
      if (!session) return client.end();
      // Logged in: no longer under the grace nor counted among connections not logged in (ssh2's socket of this client).
      this.loginPending.get(socketOf(client))?.();
      const live = session;
      if ([...this.sessions].filter((s) => s.userId === live.userId).length >= MAX_CONNECTIONS_PER_USER) {
        this.options.log(`sftp: user ${live.userId} already holds ${MAX_CONNECTIONS_PER_USER} connections; one more refused`);
        return client.end();
      }
      this.sessions.add(live);
      client.on('close', () => this.sessions.delete(live));
      let channels = 0;
      client.on('session', (acceptSession, rejectSession) => {
        if (channels >= MAX_SESSIONS) return rejectSession();
        channels++;
        const ssh = acceptSession();
        ssh.once('close', () => channels--);
        // Only the sftp subsystem: no shell, exec, port forwarding or agent forwarding.
        ssh.on('sftp', (acceptSftp) => this.openSftp(live, acceptSftp()));
        for (const refused of ['shell', 'exec', 'pty', 'subsystem', 'env', 'x11', 'auth-agent']) {
          ssh.on(refused as never, ((accept: unknown, reject?: () => void) => reject?.()) as never);
        }
      });
      client.on('tcpip', (_accept, reject) => reject());
    });
  }

  /**
   * Accepted at once (OpenSSH sends its INIT without waiting for the subsystem's reply, and data
   * before the accept is lost); the jail, with the disk quota counted by a walk the first time, is
   * opened meanwhile and every request waits for it (ssh2 would answer OP_UNSUPPORTED to a request
   * that arrived before the session's handlers existed).
   */
  private openSftp(live: LiveSession, sftp: SFTPWrapper): void {
    live.sftps.add(sftp);
    sftp.once('close', () => live.sftps.delete(sftp));
    const jail = (async () => ServerJail.of(this.options.serverDir(live.serverId), await this.options.quota?.(live.serverId)))();
    jail.catch(() => live.client.end());
    new (ssh().SftpSession)(sftp, jail, () => live.allowed, (change) => this.options.changed?.({ ...change, server_id: live.serverId, user_id: live.userId }), live.handles, () => this.overloaded(live));
  }

  /**
   * Whether the connection has more requests being served than MAX_IN_FLIGHT, or more answers waiting
   * than MAX_BACKLOG_BYTES (in the socket and in ssh2's per-channel buffers, `_buffer` of ssh2 1.17's
   * SFTP): then it is dropped at once (end() would wait for a client that does not read).
   */
  private overloaded(live: LiveSession): boolean {
    const socket = socketOf(live.client);
    let bytes = socket.writableLength;
    for (const sftp of live.sftps) for (const payload of (sftp as unknown as { _buffer?: Buffer[] })._buffer ?? []) bytes += payload.length;
    if (bytes <= MAX_BACKLOG_BYTES && live.handles.inFlight < MAX_IN_FLIGHT) return false;
    if (!socket.destroyed) this.options.log(`sftp: user ${live.userId} had ${live.handles.inFlight} requests in flight and ${bytes} bytes of answers unread; connection dropped`);
    socket.destroy();
    return true;
  }

  /** The session a login opens, or undefined (wrong user name shape, unknown server, refused by auth). */
  private async authenticate(ctx: AuthContext, ip: string): Promise<Omit<LiveSession, 'client' | 'handles' | 'sftps'> | undefined> {
    if (ctx.method !== 'password' && ctx.method !== 'publickey') return undefined;
    const name = parseSftpUsername(ctx.username);
    if (!name) return undefined;
    const matches = this.options.servers().filter((id) => id.startsWith(name.serverPrefix));
    // Two servers of this node sharing the first 8 characters: neither is named unambiguously.
    if (matches.length !== 1) return undefined;
    let credential: { password: string } | { public_key: { algo: string; data: string } };
    if (ctx.method === 'publickey') {
      // Without a signature the client only asks whether the key would do; with one, it must verify.
      if (ctx.signature && !verifySignature(ctx)) return undefined;
      credential = { public_key: { algo: ctx.key.algo, data: ctx.key.data.toString('base64') } };
    } else {
      credential = { password: ctx.password };
    }
    try {
      const reply = await this.ask<SftpAccessReply>(AuthVerbs.sftpLogin, { node_id: this.options.nodeId(), server_id: matches[0], user_name: name.userName, ...credential, ip });
      // A key without a signature is only "acceptable": ssh2 asks again with the signed request.
      return {
        serverId: matches[0],
        userId: reply.user_id,
        allowed: new Set(reply.allowed),
        ...(ctx.method === 'publickey' ? { keyFingerprint: fingerprintOf(ctx.key.data) } : { passwordChangedAt: reply.password_changed_at }),
      };
    } catch (error) {
      const e = error as DomainError;
      if (!DEFINITIVE.has(e.code)) this.options.log(`sftp: login of ${ctx.username} could not be checked: ${e.message}`);
      return undefined;
    }
  }

  private async recheck(): Promise<void> {
    // A slow auth service must not pile up rounds: the next tick waits for this one.
    if (this.rechecking) return;
    this.rechecking = true;
    try {
      await this.recheckAll();
    } finally {
      this.rechecking = false;
    }
  }

  private async recheckAll(): Promise<void> {
    for (const s of [...this.sessions]) await this.recheckSession(s);
  }

  /**
   * `sftp_recheck` from the nodes service: an access change was just committed. The sessions
   * matching every id given (none: all) end at once when `revoked` says the access is gone (a
   * disabled or deleted user, a deleted server), else they are re-checked now rather than at the
   * next round. Sessions of other users, or on other servers, are left alone.
   */
  async recheckNow(notice: unknown): Promise<{ sessions: number }> {
    const parsed = sftpRecheckCommandSchema.safeParse(notice);
    if (!parsed.success) throw new DomainError('VALIDATION_FAILED', 'sftp_recheck takes { server_id?, user_id?, revoked? }');
    const cmd = parsed.data;
    const matching = [...this.sessions].filter((s) => (cmd.server_id === undefined || s.serverId === cmd.server_id) && (cmd.user_id === undefined || s.userId === cmd.user_id));
    if (cmd.revoked) {
      for (const s of matching) this.end(s, 'the access was revoked');
    } else {
      const recheckMatching = async () => {
        for (let i = 0; i < matching.length; i += RECHECK_CONCURRENCY) await Promise.all(matching.slice(i, i + RECHECK_CONCURRENCY).map((s) => this.recheckSession(s)));
      };
      await recheckMatching();
      for (const ms of RECHECK_FOLLOW_UPS_MS) {
        const t = setTimeout(() => {
          this.followUps.delete(t);
          void recheckMatching();
        }, ms);
        t.unref();
        this.followUps.add(t);
      }
    }
    return { sessions: matching.length };
  }

  private async recheckSession(s: LiveSession): Promise<void> {
    if (!this.sessions.has(s)) return;
    // A periodic re-check asked before a change may answer after the pushed one asked since: the
    // older answer must not bring back what the change took away.
    const checks = (s.checks ??= { asked: 0, applied: 0 });
    const n = ++checks.asked;
    try {
      const reply = await this.ask<SftpAccessReply>(AuthVerbs.sftpAccess, {
        node_id: this.options.nodeId(),
        server_id: s.serverId,
        user_id: s.userId,
        key_fingerprint: s.keyFingerprint,
        password_changed_at: s.passwordChangedAt,
      });
      if (this.sessions.has(s) && n > checks.applied) {
        checks.applied = n;
        s.allowed = new Set(reply.allowed);
      }
    } catch (error) {
      // A definitive no ends the session; an unreachable auth service keeps the last answer until it is back.
      const e = error as DomainError;
      if (DEFINITIVE.has(e.code)) this.end(s, e.message);
      else this.options.log(`sftp: session of user ${s.userId} could not be re-checked (kept): ${e.message}`);
    }
  }

  /** Ends a session: no request is served from here on, and the connection closes. */
  private end(s: LiveSession, reason: string): void {
    s.allowed = new Set();
    if (!this.sessions.delete(s)) return;
    this.options.log(`sftp: session of user ${s.userId} on server ${s.serverId} ended: ${reason}`);
    s.client.end();
  }

  private ask<T>(verb: string, data: unknown): Promise<T> {
    const commands = this.options.commands();
    if (!commands) return Promise.reject(Object.assign(new Error('agent: not connected to NATS'), { code: 'SERVICE_UNAVAILABLE' }));
    const replySubject = Subjects.agentReply(this.options.nodeId(), randomUUID().replace(/-/g, ''));
    return commands.send<T>('auth', verb, data, { actor: `agent:${this.options.nodeId()}` }, { timeoutMs: LOGIN_TIMEOUT_MS, replySubject });
  }
}
