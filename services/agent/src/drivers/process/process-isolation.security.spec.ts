import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderStartup } from '@encedeus/contracts';
import { eventually, lines, nextExit } from '../../../test/fixtures/driver-probes';
import { secureDataDir, writeIdentity } from '../../enrollment/identity';
import type { ServerSpec } from '../driver';
import { sandboxSupport } from '../../sandbox/sandbox-support';
import { ProcessDriver } from './process-driver';

// Issue 8 items 5 and 6: template variables reached `sh -c` as shell text, and every process-driver
// server ran as root next to the agent's credentials and the other servers' files.
describe('process driver isolation (security)', () => {
  let root: string;
  let driver: ProcessDriver;
  let count = 0;

  const spec = (startup: string, env: Record<string, string> = {}): ServerSpec => {
    const id = `iso-${++count}`;
    return { id, dir: join(root, 'volumes', id), startup, env, limits: { memoryMb: 0, cpuPercent: 0, diskMb: 0 }, ports: [], stop: { timeoutS: 2 } };
  };
  const newDriver = () => new ProcessDriver({ stateDir: join(root, 'process-state'), alivePollMs: 50 });
  /** Runs a server to its exit and returns its console lines. */
  const run = async (s: ServerSpec, d = driver) => {
    await d.create(s);
    const seen = lines(d, s.id);
    const exited = nextExit(d, s.id);
    await d.start(s.id);
    const info = await exited;
    return { info, out: seen.map((l) => l.line) };
  };

  beforeAll(async () => {
    // Not under /tmp: a private /tmp would hide the other servers' folders there, and this must hold by uid alone.
    root = await mkdtemp(join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), 'encedeus-isolation-'));
    // The agent's data dir: traversable, not listable; its secrets are 0600 root.
    await chmod(root, 0o711);
    await writeIdentity(root, { node_id: 'n1', creds: 'SECRET-NATS-SEED', enrolled_at: new Date().toISOString() });
  });
  beforeEach(() => (driver = newDriver()));
  afterEach(() => driver.close());
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('prints an injected variable literally and never runs it', async () => {
    const values = { GREETING: 'x$(id -u)`hostname`;echo INJECTED' };
    const s = spec(renderStartup('echo "greeting is {{GREETING}}"; echo {{GREETING}}', values), values);

    const { info, out } = await run(s);

    expect(info.code).toBe(0);
    expect(out).toEqual([`greeting is ${values.GREETING}`, values.GREETING]);
  });

  it('runs each server as its own unprivileged uid, kept across an agent restart', async () => {
    const a = spec('id -u; cd "$HOME" && pwd');
    const b = spec('id -u');

    const first = (await run(a)).out;
    const uidA = Number(first[0]);
    const uidB = Number((await run(b)).out[0]);
    await driver.close();
    driver = newDriver();
    const again = Number((await run(a)).out[0]);

    expect(uidA).toBeGreaterThan(0);
    expect(uidB).toBeGreaterThan(0);
    expect(uidA).not.toBe(uidB);
    expect(again).toBe(uidA);
    expect(first[1]).toBe(a.dir);
    expect((await stat(a.dir)).uid).toBe(uidA);
    expect((await stat(a.dir)).mode & 0o777).toBe(0o700);
  });

  it("cannot read the agent's identity, its state or another server's files", async () => {
    const victim = spec('echo top-secret > secret.txt');
    await run(victim);
    const thief = spec(
      [
        `cat ${join(root, 'identity.json')} || echo denied-identity`,
        `ls ${join(root, 'process-state')} || echo denied-state`,
        `cat ${join(victim.dir, 'secret.txt')} || echo denied-server`,
        `ls ${victim.dir} || echo denied-listing`,
      ].join('; '),
    );

    const { out } = await run(thief);

    expect(out.join('\n')).not.toMatch(/SECRET-NATS-SEED|top-secret/);
    expect(out).not.toContain('secret.txt');
    expect(out).not.toContain(victim.id);
    expect(out).toEqual(expect.arrayContaining(['denied-identity', 'denied-state', 'denied-server', 'denied-listing']));
  });

  it("cannot signal another server's processes", async () => {
    const victim = spec('echo "pid $$"; while :; do echo tick; sleep 0.1; done');
    await driver.create(victim);
    const victimLines = lines(driver, victim.id);
    await driver.start(victim.id);
    await eventually(() => victimLines.some((l) => l.line.startsWith('pid ')), 5000);
    const pid = Number(victimLines.find((l) => l.line.startsWith('pid '))!.line.slice(4));

    const { out } = await run(spec(`kill -9 ${pid} && echo killed || echo denied`));
    const ticks = victimLines.length;
    // A later marker proves the victim lived on: two more ticks after the attack finished.
    await eventually(() => victimLines.length >= ticks + 2, 5000);
    await driver.kill(victim.id);

    expect(out).toContain('denied');
    expect(out).not.toContain('killed');
  });

  it('gives each server its own /tmp where mount namespaces work', async () => {
    if (!(await sandboxSupport()).mountNamespace) return console.warn('skipped: unshare -m does not work here, servers share /tmp');
    const marker = `encedeus-tmp-${count}-${Date.now()}`;
    await run(spec(`echo secret > /tmp/${marker}`));

    const { out } = await run(spec(`cat /tmp/${marker} || echo absent`));

    expect(out).toContain('absent');
    expect(existsSync(join('/tmp', marker))).toBe(false);
  });

  it("runs commands next to a server (install scripts) as the server's uid", async () => {
    const s = spec('id -u');
    const uid = (await run(s)).out[0];

    const result = await driver.exec(s.id, ['sh', '-c', 'id -u; cat /proc/self/status | grep CapEff']);

    expect(result.stdout).toBe(`${uid}\nCapEff:\t0000000000000000\n`);
  });

  it("tightens an older agent's data dir and identity at start", async () => {
    const old = join(root, 'older-agent');
    await mkdir(old, { mode: 0o755 });
    await writeFile(join(old, 'identity.json'), '{}', { mode: 0o644 });

    await secureDataDir(old);

    expect((await stat(old)).mode & 0o777).toBe(0o711);
    expect((await stat(join(old, 'identity.json'))).mode & 0o777).toBe(0o600);
  });

  it('reports the separation it enforces in its capabilities', async () => {
    const sandbox = await sandboxSupport();
    if (!sandbox.root) return console.warn('skipped: the agent is not root here, servers run as its user');

    const caps = await driver.capabilities();

    expect(caps.user).toBe('per-server-uid');
    expect(caps.tmp).toBe(sandbox.mountNamespace ? 'private' : 'shared');
    expect(['cgroup-v1', 'cgroup-v2', 'rlimit']).toContain(caps.pids);
  });
});
