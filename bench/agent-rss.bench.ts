import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { removeAgentData } from '../services/agent/test/fixtures/agent-process';
import { AGENT_NODE_FLAGS } from '../services/gateway/src/agent-install/install-script';
import { startStack } from '../services/gateway/test/stack-harness';
import { conditions, record } from './lib/harness';

const BENCH = 'agent-rss';
const NODE_ECHO_TEMPLATE = '00000000-0000-4000-8000-000000000001';
const SERVERS = Number(process.env.BENCH_SERVERS ?? 10);
/** Idle time before sampling, then samples one a second. */
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 20);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 10);
const root = join(__dirname, '..');

/** Resident set of a process in MiB, from /proc. */
function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

async function sample(pid: number): Promise<{ median: number; max: number }> {
  const values: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    values.push(rssMiB(pid));
    await new Promise((r) => setTimeout(r, 1000));
  }
  values.sort((a, b) => a - b);
  return { median: values[Math.floor(values.length / 2)], max: values[values.length - 1] };
}

function shell(script: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const sh = spawn('sh', ['-s', '--', ...args], { cwd, env });
    let out = '';
    sh.stdout.on('data', (c) => (out += c));
    sh.stderr.on('data', (c) => (out += c));
    sh.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`install.sh exited ${code}:\n${out}`))));
    sh.stdin.end(script);
  });
}

/**
 * Issue 14: the RSS of the agent as an operator installs it (the gateway's install.sh and bundle:
 * compiled JavaScript, plain node, no ts-node) with SERVERS idle servers of the process driver,
 * beside a bare `node` process idling (the runtime's own floor on this machine). Wings idles at
 * ~32 MB; the agent under ts-node took 137 MB.
 */
export async function run(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'encedeus-bench-agent-rss-'));
  const saved = process.env.ENCEDEUS_AGENT_BUNDLE;
  execFileSync(process.execPath, [join(root, 'infra', 'scripts', 'build-agent.js')], { env: { ...process.env, ENCEDEUS_AGENT_BUILD_DIR: join(work, 'build') }, stdio: 'pipe' });
  process.env.ENCEDEUS_AGENT_BUNDLE = join(work, 'build', 'encedeus-agent.tgz');
  const stack = await startStack({ metrics: false, files: false });
  let agent: ChildProcess | undefined;
  let bare: ChildProcess | undefined;
  const prefix = join(work, 'opt', 'encedeus-agent');
  try {
    const token = await stack.adminToken();
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const http = stack.http;
    const node = await http().post('/api/v1/nodes').set(headers).send({ name: 'rss-node', memory_mb: 16_384, cpu_percent: 1600, storage_size: '20G' });
    if (node.status !== 201) throw new Error(`bench: create node answered ${node.status}: ${JSON.stringify(node.body)}`);

    const env = { PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, HOME: work, TMPDIR: work };
    const script = await (await fetch(`${stack.gateway.url}/agent/install.sh`)).text();
    await shell(script, ['--prefix', prefix, '--no-service', '--token', node.body.enrollment.token], work, env);
    // The line install.sh prints (its node flags included), with the process driver only (no Docker on the bench machine).
    let out = '';
    agent = spawn(process.execPath, [...AGENT_NODE_FLAGS, join(prefix, 'app', 'bin', 'encedeus-agent'), '--data-dir', join(prefix, 'data'), '--drivers', 'process'], { cwd: work, env: { ...env, AGENT_SFTP_PORT: '0' } });
    agent.stdout!.on('data', (c) => (out = (out + c).slice(-10_000)));
    agent.stderr!.on('data', (c) => (out = (out + c).slice(-10_000)));
    await stack
      .waitFor('installed agent online', async () => (await http().get(`/api/v1/nodes/${node.body.id}`).set(headers)).body.state === 'online', 60_000)
      .catch((e) => {
        throw new Error(`${e.message}\n${out}`);
      });

    const ids: string[] = [];
    for (let i = 0; i < SERVERS; i++) {
      const server = await http().post('/api/v1/servers').set(headers).send({ name: `rss-${i}`, template_id: NODE_ECHO_TEMPLATE, node_id: node.body.id, limits: { memory_mb: 64, cpu_percent: 10, disk_mb: 50 } });
      if (server.status !== 201) throw new Error(`bench: create server answered ${server.status}: ${JSON.stringify(server.body)}`);
      ids.push(server.body.id);
    }
    const state = async (id: string) => (await http().get(`/api/v1/servers/${id}`).set(headers)).body.state as string;
    for (const id of ids) await stack.waitFor('installed', async () => (await state(id)) === 'offline', 120_000);
    for (const id of ids) await http().post(`/api/v1/servers/${id}/power`).set(headers).send({ action: 'start' });
    for (const id of ids) await stack.waitFor('running', async () => (await state(id)) === 'running', 60_000);

    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const measured = await sample(agent.pid!);

    bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env });
    await new Promise((r) => setTimeout(r, 3000));
    const raw = await sample(bare.pid!);

    record({
      bench: BENCH,
      name: `installed agent RSS, ${SERVERS} idle servers (process driver)`,
      value: Math.round(measured.median * 10) / 10,
      unit: 'MiB',
      target: { op: '<=', value: 60 },
      raw: { name: 'bare node idle (node -e setInterval)', value: Math.round(raw.median * 10) / 10, unit: 'MiB' },
      note: `max ${measured.max.toFixed(1)} MiB over ${SAMPLES} samples; bundle ${(readFileSync(process.env.ENCEDEUS_AGENT_BUNDLE).length / 2 ** 20).toFixed(1)} MiB`,
    });
    conditions(BENCH, {
      setup: `auth, users, nodes and the gateway in the bench process (startStack); the agent installed by the gateway's install.sh from its bundle (build:agent of these sources) into a fresh prefix and run with plain node and the flags install.sh gives it (${AGENT_NODE_FLAGS.join(' ')}), heartbeat and usage every 5 s (defaults)`,
      servers: `${SERVERS} node-echo servers running, idle (no console traffic)`,
      sampling: `after ${IDLE_S} s idle, VmRSS of the agent process once a second, ${SAMPLES} samples (median reported); the bare node process likewise`,
    });
  } finally {
    for (const child of [agent, bare]) if (child && child.exitCode === null) child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    for (const child of [agent, bare]) if (child && child.exitCode === null) child.kill('SIGKILL');
    if (existsSync(join(prefix, 'data'))) removeAgentData(join(prefix, 'data'));
    await stack.stop();
    if (saved === undefined) delete process.env.ENCEDEUS_AGENT_BUNDLE;
    else process.env.ENCEDEUS_AGENT_BUNDLE = saved;
    rmSync(work, { recursive: true, force: true });
  }
}
