import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTsNode, waitForLine } from '../../../test/fixtures/ts-node-process';
import { eventually as eventuallyWithin, lines, nextExit } from '../../../test/fixtures/driver-probes';
import { cgroupSupport } from '../cgroups';
import type { ServerSpec } from '../driver';
import { DiskLimitExceededError, ServerNotFoundError } from '../driver-errors';
import { groupProcesses, isAlive } from '../proc';
import { ProcessDriver } from './process-driver';

// Cgroups are named after server ids (servers/<id>): ids unique per run keep two test files running at
// once (or two agents on one machine) from sharing, and killing, each other's cgroup.
const RUN = randomUUID().slice(0, 8);

const MIB = 1024 * 1024;

describe('ProcessDriver', () => {
  let root: string;
  let driver: ProcessDriver;
  let count = 0;

  const spec = (overrides: Partial<ServerSpec> = {}): ServerSpec => {
    const id = `srv-${RUN}-${++count}`;
    return {
      id,
      dir: join(root, 'servers', id),
      startup: 'echo ready; while read line; do echo "got $line"; done',
      env: {},
      limits: { memoryMb: 0, cpuPercent: 0, diskMb: 0 },
      ports: [],
      stop: { timeoutS: 2 },
      ...overrides,
    };
  };
  const newDriver = () => new ProcessDriver({ stateDir: join(root, 'state'), diskCheckMs: 100, alivePollMs: 50 });
  const eventually = (check: () => boolean | Promise<boolean>, timeoutMs = 5000) => eventuallyWithin(check, timeoutMs);

  beforeAll(async () => (root = await mkdtemp(join(tmpdir(), 'encedeus-process-driver-'))));
  beforeEach(() => (driver = newDriver()));
  afterEach(() => driver.close());
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('reports what it enforces on this machine', async () => {
    const caps = await driver.capabilities();
    const cgroups = await cgroupSupport();

    expect(caps.driver).toBe('process');
    expect(caps.memory).toBe(cgroups.memory ? `cgroup-${cgroups.version}` : 'rlimit');
    expect(caps.disk).toBe('watcher');
    expect(caps.survivesAgentRestart).toBe(true);
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
    await expect(driver.stop(s.id)).resolves.toBeUndefined();
  });

  it('runs in the server directory with only the given environment', async () => {
    process.env.ENCEDEUS_SECRET_FOR_TEST = 'leak';
    const s = spec({ startup: 'pwd; echo "v=$GAME_MODE s=$ENCEDEUS_SECRET_FOR_TEST"', env: { GAME_MODE: 'survival' } });
    await driver.create(s);
    const seen = lines(driver, s.id);
    const exited = nextExit(driver, s.id);

    await driver.start(s.id);

    expect(await exited).toMatchObject({ code: 0, expected: false });
    expect(seen.map((l) => l.line)).toEqual([s.dir, 'v=survival s=']);
    delete process.env.ENCEDEUS_SECRET_FOR_TEST;
  });

  it('reports a crash as unexpected and flushes the last partial line', async () => {
    const s = spec({ startup: 'printf "bye"; exit 3' });
    await driver.create(s);
    const seen = lines(driver, s.id);
    const exited = nextExit(driver, s.id);

    await driver.start(s.id);

    expect(await exited).toEqual({ code: 3, signal: null, expected: false });
    expect(seen.map((l) => l.line)).toEqual(['bye']);
  });

  it('escalates to SIGKILL when the server ignores SIGTERM, leaving nothing of its group', async () => {
    const s = spec({ startup: "trap '' TERM; echo ready; while :; do sleep 0.1; done", stop: { timeoutS: 0.5 } });
    await driver.create(s);
    const seen = lines(driver, s.id);
    await driver.start(s.id);
    await eventually(() => seen.some((l) => l.line === 'ready'));
    const pid = (await readJson(join(root, 'state', s.id, 'run.json'))).pid as number;
    const exited = nextExit(driver, s.id);

    await driver.stop(s.id);

    expect(await exited).toMatchObject({ code: 137, signal: 'SIGKILL', expected: true });
    expect(await groupProcesses(pid)).toEqual([]);
  });

  it('keeps the server running across an agent SIGKILL and recovers it', async () => {
    const s = spec({ startup: 'echo ready; sleep 1; echo late; while read line; do echo "got $line"; done' });
    const agent = spawnTsNode(join(__dirname, '../../../test/fixtures/process-driver-host.ts'), [join(root, 'state'), JSON.stringify(s)]);
    await waitForLine(agent, 'started');
    const run = await readJson(join(root, 'state', s.id, 'run.json'));

    agent.kill('SIGKILL');
    await new Promise((r) => agent.once('exit', r));
    const alive = await isAlive(run.pid, run.startTime);
    await driver.create(s);
    const recovered = lines(driver, s.id);
    const state = await driver.recover(s);
    // "late" is written while no agent runs; the recovered tail must still deliver it.
    await eventually(() => recovered.some((l) => l.line === 'late'));
    await driver.write(s.id, 'after restart');
    await eventually(() => recovered.some((l) => l.line === 'got after restart'));
    const exited = nextExit(driver, s.id);
    await driver.kill(s.id);

    expect(alive).toBe(true);
    expect(state).toBe('running');
    expect(await exited).toMatchObject({ expected: true, signal: 'SIGKILL' });
  });

  it('reports a server that ended while the agent was away', async () => {
    const s = spec({ startup: 'echo ready; read line; exit 4' });
    await driver.create(s);
    await driver.start(s.id);
    await driver.close();
    driver = newDriver();
    // The server is not our child any more: write through the FIFO directly as an operator would.
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(root, 'state', s.id, 'stdin'), 'x\n');
    await eventually(() => existsSync(join(root, 'state', s.id, 'exit')));
    const exited = nextExit(driver, s.id);

    const state = await driver.recover(s);

    expect(state).toBe('exited');
    expect(await exited).toEqual({ code: 4, signal: null, expected: false });
  });

  it('kills a server that goes over its memory limit', async () => {
    const cgroups = await cgroupSupport();
    if (!cgroups.memory) return console.warn('skipped: no writable memory cgroup, memory is only rlimit-limited here');
    const s = spec({ startup: 'exec python3 -c "x = bytearray(256 * 1024 * 1024); print(len(x))"', limits: { memoryMb: 64, cpuPercent: 50, diskMb: 0 } });
    await driver.create(s);
    const exited = nextExit(driver, s.id);

    await driver.start(s.id);

    expect(await exited).toEqual({ code: 137, signal: 'SIGKILL', expected: false, reason: 'oom' });
  });

  it('stops a server over its disk limit and refuses to start it again', async () => {
    const s = spec({ startup: 'head -c 2097152 /dev/zero > big.dat; echo written; sleep 30', limits: { memoryMb: 0, cpuPercent: 0, diskMb: 1 }, stop: { timeoutS: 1 } });
    await driver.create(s);
    const exceeded = new Promise<{ diskBytes: number; limitBytes: number }>((resolve) => driver.once('disk_exceeded', (_id, usage) => resolve(usage)));
    const exited = nextExit(driver, s.id);

    await driver.start(s.id);

    expect((await exceeded).diskBytes).toBeGreaterThan(MIB);
    expect(await exited).toMatchObject({ expected: true, reason: 'disk_exceeded' });
    await expect(driver.start(s.id)).rejects.toBeInstanceOf(DiskLimitExceededError);
  });

  it('reports usage of a running server and none of a stopped one', async () => {
    const s = spec({ startup: 'python3 -c "import time; x = bytearray(32 * 1024 * 1024); print(\'ready\', flush=True); time.sleep(30)"' });
    await driver.create(s);
    const seen = lines(driver, s.id);
    await driver.start(s.id);
    await eventually(() => seen.some((l) => l.line === 'ready'));

    const stats = await driver.stats(s.id);
    await driver.kill(s.id);
    await eventually(() => driver.state(s.id) === 'stopped');

    expect(stats!.memoryBytes).toBeGreaterThan(32 * MIB);
    expect(stats!.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(stats!.memoryLimitBytes).toBeGreaterThan(0);
    expect(await driver.stats(s.id)).toBeUndefined();
  });

  it('executes a command in the server directory', async () => {
    const s = spec();
    await driver.create(s);

    const result = await driver.exec(s.id, ['sh', '-c', 'pwd; echo err >&2; exit 5']);

    expect(result).toEqual({ exitCode: 5, stdout: `${s.dir}\n`, stderr: 'err\n' });
  });

  it('removes a running server with its files, and forgets it', async () => {
    const s = spec();
    await driver.create(s);
    await driver.start(s.id);

    await driver.remove(s.id);

    expect(existsSync(s.dir)).toBe(false);
    expect(existsSync(join(root, 'state', s.id))).toBe(false);
    expect(driver.state(s.id)).toBe('unknown');
    expect(() => driver.attach(s.id, () => undefined)).toThrow(ServerNotFoundError);
    await expect(driver.remove(s.id)).resolves.toBeUndefined();
  });
});

async function readJson(path: string) {
  return JSON.parse(await readFile(path, 'utf8'));
}
