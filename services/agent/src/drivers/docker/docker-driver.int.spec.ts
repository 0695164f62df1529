import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDockerEngine } from '../../../test/fixtures/docker-engine';
import { eventually as eventuallyWithin, lines, nextExit } from '../../../test/fixtures/driver-probes';
import type { ServerSpec } from '../driver';
import { ServerNotRunningError } from '../driver-errors';
import { containerName, DockerDriver } from './docker-driver';

const MIB = 1024 * 1024;
const engine = ensureDockerEngine();
const describeWithEngine = engine ? describe : describe.skip;
if (!engine) console.warn('DockerDriver tests skipped: no Docker engine can run on this machine');

// Not @encedeus/testing's freePort: importing that lib loads NATS and Postgres tooling (seconds).
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describeWithEngine('DockerDriver', () => {
  // describe.skip still runs this body, so stay safe without an engine.
  const { docker, image, network } = engine ?? ({} as NonNullable<typeof engine>);
  let root: string;
  let driver: DockerDriver;
  const ids: string[] = [];

  const spec = (overrides: Partial<ServerSpec> = {}): ServerSpec => {
    const id = `test-${process.pid}-${ids.length + 1}`;
    ids.push(id);
    return {
      id,
      dir: join(root, id),
      image,
      startup: 'echo ready; while read line; do echo "got $line"; done',
      env: {},
      limits: { memoryMb: 64, cpuPercent: 50, diskMb: 0 },
      ports: [],
      stop: { timeoutS: 2 },
      ...overrides,
    };
  };
  const newDriver = () => new DockerDriver({ docker, network });
  const eventually = (check: () => boolean | Promise<boolean>, timeoutMs = 10_000) => eventuallyWithin(check, timeoutMs);
  const containerExists = (id: string) =>
    docker.getContainer(containerName(id)).inspect().then(() => true, () => false);

  beforeAll(async () => (root = await mkdtemp(join(tmpdir(), 'encedeus-docker-driver-'))));
  beforeEach(() => (driver = newDriver()));
  afterEach(() => driver.close());
  afterAll(async () => {
    await Promise.all(ids.map((id) => docker.getContainer(containerName(id)).remove({ force: true }).catch(() => undefined)));
    await rm(root, { recursive: true, force: true });
  });

  it('reports what the engine enforces', async () => {
    const caps = await driver.capabilities();

    expect(caps).toMatchObject({ driver: 'docker', memory: 'docker', cpu: 'docker', disk: 'watcher', survivesAgentRestart: true });
  });

  it('streams console output, takes console input and stops with the stop command', async () => {
    const s = spec({ stop: { command: 'quit', timeoutS: 5 }, startup: 'echo ready; echo oops >&2; while read line; do [ "$line" = quit ] && exit 0; echo "got $line"; done' });
    await driver.create(s);
    const seen = lines(driver, s.id);
    await driver.start(s.id);
    await eventually(() => seen.some((l) => l.line === 'ready'));

    await driver.write(s.id, 'hello');
    await eventually(() => seen.some((l) => l.line === 'got hello'));
    const exited = nextExit(driver, s.id);
    await driver.stop(s.id);

    expect(await exited).toEqual({ code: 0, signal: null, expected: true });
    expect(seen).toContainEqual({ line: 'oops', stream: 'stderr' });
    expect(driver.state(s.id)).toBe('stopped');
    await expect(driver.write(s.id, 'late')).rejects.toBeInstanceOf(ServerNotRunningError);
  });

  it('reports a crash as unexpected, with the server directory mounted at /data', async () => {
    const s = spec({ startup: 'pwd; cat marker.txt; echo "mode=$GAME_MODE"; exit 3', env: { GAME_MODE: 'survival' } });
    await driver.create(s);
    await writeFile(join(s.dir, 'marker.txt'), 'from the host\n');
    const seen = lines(driver, s.id);
    const exited = nextExit(driver, s.id);

    await driver.start(s.id);

    expect(await exited).toEqual({ code: 3, signal: null, expected: false });
    expect(seen.map((l) => l.line)).toEqual(['/data', 'from the host', 'mode=survival']);
  });

  it('kills a server over its memory limit and says so', async () => {
    const s = spec({ startup: 'dd if=/dev/zero of=/dev/null bs=256M count=1', limits: { memoryMb: 32, cpuPercent: 0, diskMb: 0 } });
    await driver.create(s);
    const exited = nextExit(driver, s.id);

    await driver.start(s.id);

    expect(await exited).toEqual({ code: 137, signal: 'SIGKILL', expected: false, reason: 'oom' });
  });

  it('escalates to SIGKILL when the server ignores its stop signal', async () => {
    const s = spec({ startup: "trap '' TERM; echo ready; while :; do sleep 0.1; done", stop: { timeoutS: 1 } });
    await driver.create(s);
    const seen = lines(driver, s.id);
    await driver.start(s.id);
    await eventually(() => seen.some((l) => l.line === 'ready'));
    const exited = nextExit(driver, s.id);

    await driver.stop(s.id);

    expect(await exited).toMatchObject({ code: 137, signal: 'SIGKILL', expected: true });
    expect(await containerExists(s.id)).toBe(false);
  });

  it('publishes ports and reports usage of a running server', async () => {
    if (network !== 'bridge') return console.warn('skipped: engine runs without a bridge network, ports cannot be published');
    const port = await freePort();
    const s = spec({ startup: 'exec httpd -f -p 8080 -h /data', ports: [{ host: port, container: 8080, protocol: 'tcp' }] });
    await driver.create(s);
    await writeFile(join(s.dir, 'index.html'), 'hello from the container\n');
    await driver.start(s.id);

    await eventually(() => httpGet(port, '/index.html').then((body) => body === 'hello from the container\n', () => false));
    const stats = await driver.stats(s.id);
    const exec = await driver.exec(s.id, ['sh', '-c', 'pwd; echo err >&2; exit 5']);
    await driver.kill(s.id);
    await eventually(() => driver.state(s.id) === 'stopped');

    expect(stats!.memoryBytes).toBeGreaterThan(0);
    expect(stats!.memoryLimitBytes).toBe(64 * MIB);
    expect(stats!.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(exec).toEqual({ exitCode: 5, stdout: '/data\n', stderr: 'err\n' });
    expect(await driver.stats(s.id)).toBeUndefined();
  });

  it('recovers a running container after an agent restart, and reports one that ended meanwhile', async () => {
    const running = spec();
    const ending = spec({ startup: 'read line; exit 4' });
    for (const s of [running, ending]) {
      await driver.create(s);
      await driver.start(s.id);
    }
    await driver.close();
    driver = newDriver();
    await docker.getContainer(containerName(ending.id)).kill({ signal: 'SIGKILL' }).catch(() => undefined);
    await eventually(async () => (await docker.getContainer(containerName(ending.id)).inspect()).State.Running === false);
    const endingExit = nextExit(driver, ending.id);

    const states = [await driver.recover(running), await driver.recover(ending)];
    const seen = lines(driver, running.id);
    await driver.write(running.id, 'after restart');
    await eventually(() => seen.some((l) => l.line === 'got after restart'));

    expect(states).toEqual(['running', 'exited']);
    expect(await endingExit).toMatchObject({ code: 137, expected: false });
    expect(await containerExists(ending.id)).toBe(false);
  });

  it('removes a running server with its container and directory', async () => {
    const s = spec();
    await driver.create(s);
    await driver.start(s.id);

    await driver.remove(s.id);

    expect(await containerExists(s.id)).toBe(false);
    expect(existsSync(s.dir)).toBe(false);
    expect(driver.state(s.id)).toBe('unknown');
  });
});
