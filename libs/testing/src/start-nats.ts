import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import {
  accountAdminOf,
  accountSigner,
  createOperatorBundle,
  mintUserCreds,
  natsServerConfig,
  SERVICE_PERMISSIONS,
  upgradeOperatorBundle,
  type AccountAdmin,
  type AccountSigner,
  type NatsUserName,
  type OperatorBundle,
} from '@encedeus/messaging';
import { freePort, waitForPort } from './free-port';

/** A running nats-server in operator mode, owned by whoever started it. */
export interface NatsHandle {
  url: string;
  port: number;
  bundle: OperatorBundle;
  signer: AccountSigner;
  /** What the gateway needs to revoke integrator credentials on this server. */
  accountAdmin?: AccountAdmin;
  /** `.creds` content of a service user (see SERVICE_PERMISSIONS). */
  creds(user: NatsUserName): Promise<string>;
  stop(): Promise<void>;
}

export interface StartNatsOptions {
  /** JetStream store; a temp folder removed on stop when omitted. */
  storeDir?: string;
  port?: number;
  /** Reuse a trust chain (dev keeps one across restarts). @default a fresh one */
  bundle?: OperatorBundle;
  /** Folder for the generated config. @default storeDir's parent or a temp folder */
  configDir?: string;
  /** Log file of the server. @default ignored */
  logFile?: string;
}

/** Finds Debian's nats-server, installing the package when missing and running as root. */
export function natsServerBinary(): string {
  const candidates = [process.env.NATS_SERVER_BIN, '/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  try {
    return execFileSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).trim();
  } catch {}
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    execFileSync('sh', ['-c', 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q nats-server || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nats-server)'], { stdio: 'inherit' });
    if (existsSync('/usr/sbin/nats-server')) return '/usr/sbin/nats-server';
  }
  throw new Error('testing: nats-server not found; install Debian package nats-server or set NATS_SERVER_BIN');
}

/** One nats-server process started from a config file. */
export interface NatsServerProcess {
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
}

/**
 * Spawns nats-server with `configFile` and resolves once it accepts connections on `port`. With
 * `serverName`, only once the server on that port says it is ours (its INFO names it): a port that
 * `freePort()` handed out can be bound by a concurrent test first, and a client of ours would then wait
 * 20 s for an INFO that never comes (seen in CI as `NatsError: TIMEOUT` in dial).
 */
export async function spawnNatsServer(configFile: string, port: number, logFile?: string, serverName?: string): Promise<NatsServerProcess> {
  const args = ['-c', configFile];
  if (logFile) args.push('-l', logFile);
  const child: ChildProcess = spawn(natsServerBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      serverName ? waitForNatsServer(port, serverName) : waitForPort(port),
      exited.then(() => { throw new Error(`testing: nats-server exited at start: ${stderr}`); }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { child, exited };
}

/** Resolves once the nats-server on 127.0.0.1:port sends an INFO naming `serverName`. */
async function waitForNatsServer(port: number, serverName: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const needle = `"server_name":${JSON.stringify(serverName)}`;
  for (;;) {
    const info = await new Promise<string>((resolve) => {
      const socket = netConnect(port, '127.0.0.1');
      let data = '';
      const done = () => { socket.destroy(); resolve(data); };
      socket.setTimeout(1000, done);
      socket.on('data', (chunk) => { data += chunk.toString('latin1'); if (data.includes('\n')) done(); });
      socket.once('error', done);
      socket.once('end', done);
    });
    if (info.startsWith('INFO ') && info.includes(needle)) return;
    if (Date.now() > deadline) throw new Error(`testing: no nats-server named ${serverName} on 127.0.0.1:${port} after ${timeoutMs} ms (port taken by someone else?)`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a nats-server in operator mode with JetStream on a free port (a fresh one when another process took it first). */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsHandle> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsOnce(options);
    } catch (error) {
      const taken = /address already in use|port taken/.test(String((error as Error).message));
      if (attempt >= 3 || options.port !== undefined || !taken) throw error;
    }
  }
}

async function startNatsOnce(options: StartNatsOptions): Promise<NatsHandle> {
  const temp = options.storeDir ? undefined : mkdtempSync(join(tmpdir(), 'encedeus-nats-'));
  const storeDir = options.storeDir ?? join(temp!, 'jetstream');
  const configDir = options.configDir ?? temp ?? join(storeDir, '..');
  mkdirSync(storeDir, { recursive: true });
  mkdirSync(configDir, { recursive: true });
  const bundle = options.bundle ? await upgradeOperatorBundle(options.bundle) : await createOperatorBundle();
  const port = options.port ?? (await freePort());
  const configFile = join(configDir, 'nats-server.conf');
  // A persistent store (dev) keeps the default name; a throwaway test server gets a unique one.
  const serverName = options.storeDir ? 'encedeus' : `encedeus-test-${randomBytes(6).toString('hex')}`;
  writeFileSync(configFile, natsServerConfig(bundle, { port, storeDir, serverName }), { mode: 0o600 });

  let spawned: NatsServerProcess;
  try {
    spawned = await spawnNatsServer(configFile, port, options.logFile, serverName);
  } catch (error) {
    if (temp) rmSync(temp, { recursive: true, force: true });
    throw error;
  }
  const { child, exited } = spawned;

  const signer = accountSigner(bundle);
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    bundle,
    signer,
    accountAdmin: await accountAdminOf(bundle),
    creds: (user) => mintUserCreds(signer, user, SERVICE_PERMISSIONS[user]),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      if (temp) rmSync(temp, { recursive: true, force: true });
    },
  };
}
