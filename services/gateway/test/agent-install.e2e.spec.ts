import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AGENT_NODE_FLAGS } from '../src/agent-install/install-script';
import { startStack, type Stack } from './stack-harness';

const root = join(__dirname, '..', '..', '..');

/**
 * Issue 14: an agent installed like Wings — from the gateway's own install.sh and bundle onto a
 * clean directory, with the short token of the node page, no checkout and no ts-node.
 */
describe('agent install from the gateway', () => {
  let stack: Stack;
  let admin: string;
  let work: string;
  let agent: ChildProcess | undefined;
  let agentOut = '';
  const auth = () => `Bearer ${admin}`;
  const savedBundle = process.env.ENCEDEUS_AGENT_BUNDLE;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'encedeus-agent-install-'));
    // The bundle of the sources under test, built into this test's own directory (never build/ of the checkout).
    execFileSync(process.execPath, [join(root, 'infra', 'scripts', 'build-agent.js')], { env: { ...process.env, ENCEDEUS_AGENT_BUILD_DIR: join(work, 'build') }, stdio: 'pipe' });
    process.env.ENCEDEUS_AGENT_BUNDLE = join(work, 'build', 'encedeus-agent.tgz');
    stack = await startStack({ metrics: false, files: false });
    admin = await stack.adminToken();
  }, 240_000);

  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 1000));
      if (agent.exitCode === null) agent.kill('SIGKILL');
    }
    await stack?.stop();
    if (savedBundle === undefined) delete process.env.ENCEDEUS_AGENT_BUNDLE;
    else process.env.ENCEDEUS_AGENT_BUNDLE = savedBundle;
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('installs with install.sh --prefix --no-service --token into a clean directory, and the installed agent brings its node online', async () => {
    const node = await stack.http().post('/api/v1/nodes').set('Authorization', auth()).send({ name: 'installed-node', memory_mb: 2048, cpu_percent: 200, storage_size: '5G' });
    expect(node.status).toBe(201);
    const { token, command } = node.body.enrollment as { token: string; command: string };
    expect(token).toMatch(/^enc_[0-9a-f]{8}_[A-Za-z0-9_-]{32}$/);
    expect(token.length).toBeLessThan(50);
    expect(command).toBe(`curl -fsSL ${stack.gateway.url}/agent/install.sh | sh -s -- --token ${token}`);

    // Public: no Authorization on either download.
    const script = await fetch(`${stack.gateway.url}/agent/install.sh`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('text/x-shellscript');
    const text = await script.text();
    expect(text).toContain(`GATEWAY='${stack.gateway.url}'`);
    expect(text).toMatch(/^#!\/bin\/sh\n/);
    expect(text).toContain('set -eu');
    expect(text).not.toMatch(/\beval\b/);
    const tgz = await fetch(`${stack.gateway.url}/agent/encedeus-agent.tgz`);
    expect(tgz.status).toBe(200);
    expect(tgz.headers.get('content-type')).toBe('application/gzip');
    const bytes = Buffer.from(await tgz.arrayBuffer());
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect((await fetch(`${stack.gateway.url}/agent/encedeus-agent.tgz`, { headers: { 'if-none-match': tgz.headers.get('etag')! } })).status).toBe(304);

    // As an operator would: the served script piped to sh, on a directory with nothing in it.
    const clean = join(work, 'clean');
    const prefix = join(clean, 'opt', 'encedeus-agent');
    writeFileSync(join(work, 'install.sh'), text);
    const env = { PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, HOME: work, TMPDIR: work };
    execFileSync('mkdir', ['-p', clean]);
    // The script on stdin, as `curl … | sh -s -- …` gives it.
    const piped = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const sh = spawn('sh', ['-s', '--', '--prefix', prefix, '--no-service', '--token', token], { cwd: clean, env });
      let out = '';
      sh.stdout.on('data', (c) => (out += c));
      sh.stderr.on('data', (c) => (out += c));
      sh.on('exit', (code) => resolve({ code, out }));
      sh.stdin.end(text);
    });
    expect({ code: piped.code, out: piped.out }).toEqual({ code: 0, out: expect.stringContaining('installed (no service)') });
    expect(piped.out).toContain(`${AGENT_NODE_FLAGS.join(' ')} ${prefix}/app/bin/encedeus-agent --data-dir ${prefix}/data`);
    expect(piped.out).not.toContain(token);
    expect(existsSync(join(prefix, 'app', 'bin', 'encedeus-agent'))).toBe(true);
    expect(existsSync(join(prefix, 'app', 'node_modules', 'nats'))).toBe(true);
    // The bundle carries no TypeScript runtime and no service code.
    expect(existsSync(join(prefix, 'app', 'node_modules', 'ts-node'))).toBe(false);
    expect(existsSync(join(prefix, 'app', 'node_modules', 'typeorm'))).toBe(false);
    expect(existsSync(join(prefix, 'app', 'node_modules', '@nestjs'))).toBe(false);
    // Enrolled at install: credentials 0600 in the data dir; the token is written nowhere.
    const identityFile = join(prefix, 'data', 'identity.json');
    expect(statSync(identityFile).mode & 0o777).toBe(0o600);
    const identity = JSON.parse(readFileSync(identityFile, 'utf8'));
    expect(identity).toEqual(expect.objectContaining({ node_id: node.body.id, creds: expect.stringContaining('BEGIN NATS USER JWT'), nats_url: stack.env.nats.url }));
    const envFile = readFileSync(join(prefix, 'agent.env'), 'utf8');
    expect(envFile).not.toContain(token);
    expect(statSync(join(prefix, 'agent.env')).mode & 0o777).toBe(0o600);

    // The token was spent by the install: a second use gets no credentials.
    const again = await stack.http().post('/api/v1/agent/enroll').send({ token });
    expect(again.status).toBe(401);
    expect(again.body).toEqual({ error: expect.stringContaining('already used'), code: 'TOKEN_EXPIRED' });

    // The installed agent, run as install.sh prints it (node flags included): no --nats, no token (both from its data dir).
    agent = spawn(process.execPath, [...AGENT_NODE_FLAGS, join(prefix, 'app', 'bin', 'encedeus-agent'), '--data-dir', join(prefix, 'data'), '--heartbeat-ms', '1000', '--drivers', 'process'], {
      cwd: clean,
      env: { ...env, AGENT_SFTP_PORT: '0' },
    });
    agent.stdout!.on('data', (c) => (agentOut = (agentOut + c).slice(-20_000)));
    agent.stderr!.on('data', (c) => (agentOut = (agentOut + c).slice(-20_000)));
    await stack
      .waitFor('installed node online with its spec', async () => {
        const view = await stack.http().get(`/api/v1/nodes/${node.body.id}`).set('Authorization', auth());
        return view.body.state === 'online' && view.body.spec ? view.body : undefined;
      }, 60_000)
      .catch((error) => {
        throw new Error(`${error.message}\ninstalled agent output:\n${agentOut}`);
      });
    expect(agentOut).toContain(`as node ${node.body.id}`);
  }, 240_000);

  it('writes and starts a systemd unit where systemd runs (a stand-in systemctl), the node flags and KillMode=process in it', async () => {
    const node = await stack.http().post('/api/v1/nodes').set('Authorization', auth()).send({ name: 'systemd-node', memory_mb: 1024, cpu_percent: 100, storage_size: '5G' });
    const text = await (await fetch(`${stack.gateway.url}/agent/install.sh`)).text();
    const base = join(work, 'systemd');
    const [runDir, unitDir, bin] = [join(base, 'run'), join(base, 'units'), join(base, 'bin')];
    execFileSync('mkdir', ['-p', runDir, unitDir, bin]);
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "$*" >> '${join(base, 'systemctl.log')}'\n`, { mode: 0o755 });
    const prefix = join(base, 'opt');
    const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const sh = spawn('sh', ['-s', '--', '--prefix', prefix, '--token', node.body.enrollment.token], {
        cwd: base,
        env: { PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`, HOME: work, TMPDIR: work, ENCEDEUS_SYSTEMD_RUN_DIR: runDir, ENCEDEUS_SYSTEMD_UNIT_DIR: unitDir },
      });
      let out = '';
      sh.stdout.on('data', (c) => (out += c));
      sh.stderr.on('data', (c) => (out += c));
      sh.on('exit', (code) => resolve({ code, out }));
      sh.stdin.end(text);
    });
    if (process.getuid?.() !== 0) {
      // Refused before the download: the token is not spent.
      expect(result.out).toContain('needs root');
      expect(existsSync(prefix)).toBe(false);
      return;
    }
    expect(result).toEqual({ code: 0, out: expect.stringContaining('started: systemctl status encedeus-agent') });
    const unit = readFileSync(join(unitDir, 'encedeus-agent.service'), 'utf8');
    expect(unit).toContain(`ExecStart=${process.execPath} ${AGENT_NODE_FLAGS.join(' ')} ${prefix}/app/bin/encedeus-agent\n`);
    expect(unit).toContain(`EnvironmentFile=${prefix}/agent.env\n`);
    expect(unit).toContain('KillMode=process\n');
    expect(unit).toContain('Restart=always\n');
    expect(readFileSync(join(base, 'systemctl.log'), 'utf8')).toBe('daemon-reload\nenable --now encedeus-agent.service\n');
    expect(readFileSync(join(prefix, 'agent.env'), 'utf8')).toBe(`ENCEDEUS_GATEWAY_URL=${stack.gateway.url}\nAGENT_DATA_DIR=${prefix}/data\n`);
  }, 120_000);

  it('install.sh refuses a token with shell characters, an old Node and a prefix with odd characters, before touching anything', async () => {
    const text = await (await fetch(`${stack.gateway.url}/agent/install.sh`)).text();
    const target = join(work, 'refused');
    const sh = (args: string[], path = `${dirname(process.execPath)}:/usr/bin:/bin`) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn('sh', ['-s', '--', ...args], { cwd: work, env: { PATH: path, HOME: work, TMPDIR: work } });
        let out = '';
        child.stdout.on('data', (c) => (out += c));
        child.stderr.on('data', (c) => (out += c));
        child.on('exit', (code) => resolve({ code, out }));
        child.stdin.end(text);
      });
    const injected = await sh(['--prefix', target, '--no-service', '--token', 'enc_$(touch /tmp/pwned)']);
    expect(injected.code).not.toBe(0);
    expect(injected.out).toContain('characters no enrollment token has');
    const badPrefix = await sh(['--prefix', `${target}/a b`, '--no-service', '--token', 'enc_0000']);
    expect(badPrefix.code).not.toBe(0);
    // A fake node 18 first on PATH.
    const fake = join(work, 'fake-bin');
    execFileSync('mkdir', ['-p', fake]);
    writeFileSync(join(fake, 'node'), '#!/bin/sh\ncase "$1" in -p) echo 18 ;; -v) echo v18.0.0 ;; esac\n', { mode: 0o755 });
    const old = await sh(['--prefix', target, '--no-service', '--token', 'enc_0000'], `${fake}:/usr/bin:/bin`);
    expect(old.code).not.toBe(0);
    expect(old.out).toContain('Node.js 20 or newer is needed (found v18.0.0)');
    expect(existsSync(target)).toBe(false);
  }, 60_000);
});
