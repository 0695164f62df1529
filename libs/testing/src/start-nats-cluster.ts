import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  accountAdminOf,
  accountSigner,
  createOperatorBundle,
  mintUserCreds,
  natsServerConfig,
  SERVICE_PERMISSIONS,
  type AccountAdmin,
  type AccountSigner,
  type NatsUserName,
  type OperatorBundle,
} from '@encedeus/messaging';
import { freePort } from './free-port';
import { spawnNatsServer, type NatsServerProcess } from './start-nats';

/** A running nats-server cluster in operator mode with JetStream, owned by whoever started it. */
export interface NatsClusterHandle {
  /** Client URL of each member, in member order. */
  urls: string[];
  /** `server_name` of each member (what stream info reports as leader and replicas). */
  names: string[];
  bundle: OperatorBundle;
  signer: AccountSigner;
  accountAdmin: AccountAdmin;
  /** `.creds` content of a service user (see SERVICE_PERMISSIONS). */
  creds(user: NatsUserName): Promise<string>;
  /** SIGKILLs member `i` and resolves once it has exited. Its store is kept. */
  kill(i: number): Promise<void>;
  /** Starts member `i` again on its ports and store, and resolves once it reports healthy (JetStream current). */
  restart(i: number): Promise<void>;
  /** True while member `i` runs. */
  running(i: number): boolean;
  stop(): Promise<void>;
}

export interface StartNatsClusterOptions {
  /** Number of members. @default 3 */
  size?: number;
  /** Time allowed for the cluster (or a restarted member) to become healthy. @default 30000 */
  readyTimeoutMs?: number;
  /** Folder for the members' logs (`n1.log`, …), kept after stop. @default no logs */
  logDir?: string;
}

interface Member {
  name: string;
  port: number;
  httpPort: number;
  configFile: string;
  logFile?: string;
  server?: NatsServerProcess;
}

/**
 * Starts `size` nats-servers on loopback that form one cluster with JetStream: each member has its
 * own client, route and monitoring port, its own store and full-resolver folder, and the same
 * operator, accounts and preload. Resolves once every member answers `/healthz` (a JetStream meta
 * leader is elected), so R3 streams can be created right away.
 */
export async function startNatsCluster(options: StartNatsClusterOptions = {}): Promise<NatsClusterHandle> {
  // A free port can be taken by someone else before our server binds it: try again on fresh ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      if (attempt >= 3 || !/address already in use/.test(String((error as Error).message))) throw error;
    }
  }
}

/** `count` distinct free ports (the kernel may hand a just-released port out twice). */
async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

async function startOnce(options: StartNatsClusterOptions): Promise<NatsClusterHandle> {
  const size = options.size ?? 3;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const temp = mkdtempSync(join(tmpdir(), 'encedeus-nats-cluster-'));
  if (options.logDir) mkdirSync(options.logDir, { recursive: true });
  const bundle = await createOperatorBundle();
  const free = await distinctFreePorts(3 * size);
  const ports = Array.from({ length: size }, (_, i) => ({ client: free[3 * i], route: free[3 * i + 1], http: free[3 * i + 2] }));
  const routes = ports.map((p) => `nats-route://127.0.0.1:${p.route}`);
  const members: Member[] = ports.map((p, i) => {
    const name = `n${i + 1}`;
    const dir = join(temp, name);
    mkdirSync(join(dir, 'jetstream'), { recursive: true });
    const configFile = join(dir, 'nats-server.conf');
    const config = natsServerConfig(bundle, {
      serverName: name,
      port: p.client,
      httpPort: p.http,
      storeDir: join(dir, 'jetstream'),
      resolverDir: join(dir, 'jwt'),
      cluster: { name: 'encedeus-test', port: p.route, routes },
    });
    writeFileSync(configFile, config, { mode: 0o600 });
    return { name, port: p.client, httpPort: p.http, configFile, logFile: options.logDir ? join(options.logDir, `${name}.log`) : undefined };
  });

  const stopAll = async () => {
    await Promise.all(members.map((m) => stopMember(m)));
    rmSync(temp, { recursive: true, force: true });
  };
  try {
    await Promise.all(members.map(async (m) => (m.server = await spawnNatsServer(m.configFile, m.port, m.logFile))));
    await Promise.all(members.map((m) => waitHealthy(m, readyTimeoutMs)));
  } catch (error) {
    await stopAll();
    throw error;
  }

  const signer = accountSigner(bundle);
  const member = (i: number) => {
    const m = members[i];
    if (!m) throw new Error(`testing: the cluster has no member ${i}`);
    return m;
  };
  return {
    urls: members.map((m) => `nats://127.0.0.1:${m.port}`),
    names: members.map((m) => m.name),
    bundle,
    signer,
    accountAdmin: await accountAdminOf(bundle),
    creds: (user) => mintUserCreds(signer, user, SERVICE_PERMISSIONS[user]),
    async kill(i) {
      const m = member(i);
      if (!m.server || m.server.child.exitCode !== null) return;
      m.server.child.kill('SIGKILL');
      await m.server.exited;
    },
    async restart(i) {
      const m = member(i);
      if (m.server && m.server.child.exitCode === null && m.server.child.signalCode === null) throw new Error(`testing: member ${i} still runs`);
      m.server = await spawnNatsServer(m.configFile, m.port, m.logFile);
      await waitHealthy(m, readyTimeoutMs);
    },
    running: (i) => {
      const child = member(i).server?.child;
      return !!child && child.exitCode === null && child.signalCode === null;
    },
    stop: stopAll,
  };
}

async function stopMember(m: Member): Promise<void> {
  const child = m.server?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await Promise.race([m.server!.exited, new Promise((r) => setTimeout(r, 3000))]);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await m.server!.exited;
  }
}

/** Polls the member's `/healthz` (ok once JetStream has a meta leader and its streams are current). */
async function waitHealthy(m: Member, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const { status, body } = await httpGet(m.httpPort, '/healthz').catch((error: Error) => ({ status: 0, body: error.message }));
    if (status === 200) return;
    last = `${status} ${body}`.trim();
    if (m.server && (m.server.child.exitCode !== null || m.server.child.signalCode !== null)) throw new Error(`testing: nats-server ${m.name} exited while starting`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`testing: nats-server ${m.name} not healthy after ${timeoutMs} ms: ${last}`);
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
