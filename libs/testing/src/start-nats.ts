import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/** Spawns nats-server with `configFile` and resolves once it accepts connections on `port`. */
export async function spawnNatsServer(configFile: string, port: number, logFile?: string): Promise<NatsServerProcess> {
  const args = ['-c', configFile];
  if (logFile) args.push('-l', logFile);
  const child: ChildProcess = spawn(natsServerBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      waitForPort(port),
      exited.then(() => { throw new Error(`testing: nats-server exited at start: ${stderr}`); }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { child, exited };
}

/** Starts a nats-server in operator mode with JetStream on a free port. */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsHandle> {
  const temp = options.storeDir ? undefined : mkdtempSync(join(tmpdir(), 'encedeus-nats-'));
  const storeDir = options.storeDir ?? join(temp!, 'jetstream');
  const configDir = options.configDir ?? temp ?? join(storeDir, '..');
  mkdirSync(storeDir, { recursive: true });
  mkdirSync(configDir, { recursive: true });
  const bundle = options.bundle ? await upgradeOperatorBundle(options.bundle) : await createOperatorBundle();
  const port = options.port ?? (await freePort());
  const configFile = join(configDir, 'nats-server.conf');
  writeFileSync(configFile, natsServerConfig(bundle, { port, storeDir }), { mode: 0o600 });

  const { child, exited } = await spawnNatsServer(configFile, port, options.logFile);

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
