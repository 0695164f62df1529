import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentServerSpec, ExitFacts } from '@encedeus/contracts';
import { eventually } from '../../test/fixtures/driver-probes';
import type { Driver } from '../drivers/driver';
import { ProcessDriver } from '../drivers/process/process-driver';
import { ServerManager, type ServerSink } from './server-manager';

// Cgroups are named after server ids (servers/<id>): ids unique per run keep two test files running at
// once (or two agents on one machine) from sharing, and killing, each other's cgroup.
const RUN = randomUUID().slice(0, 8);

/** A server manager over a real process driver, with a sink that records what it reports. */
describe('ServerManager', () => {
  let root: string;
  let manager: ServerManager;
  let reported: { ready: { id: string; runId: string }[]; exited: { id: string; facts: ExitFacts; stderrTail: string[] }[] };
  let count = 0;

  const spec = (overrides: Partial<AgentServerSpec> = {}): AgentServerSpec => ({
    id: `srv-${RUN}-${++count}`,
    driver: 'process',
    // Ready only once told to over the console, so a test decides what happens before the ready line.
    startup: 'read go; echo "Server ready"; while read line; do :; done',
    env: {},
    limits: { memory_mb: 0, cpu_percent: 0, disk_mb: 0 },
    ports: [],
    stop: { signal: 'SIGTERM', timeout_s: 2 },
    ready_pattern: 'Server ready',
    desired: 'running',
    ...overrides,
  });

  beforeAll(async () => (root = await mkdtemp(join(tmpdir(), 'encedeus-server-manager-'))));
  beforeEach(() => {
    reported = { ready: [], exited: [] };
    const sink: ServerSink = {
      line: () => undefined,
      ready: (id, runId) => reported.ready.push({ id, runId }),
      started: () => undefined,
      exited: (id, _runId, facts, stderrTail) => reported.exited.push({ id, facts, stderrTail: [...stderrTail] }),
      changed: () => undefined,
    };
    const drivers = new Map<string, Driver>([['process', new ProcessDriver({ stateDir: join(root, 'state'), alivePollMs: 50 })]]);
    manager = new ServerManager(join(root, 'data'), drivers, sink);
  });
  afterEach(async () => {
    for (const id of manager.ids()) await manager.remove(id).catch(() => undefined);
    await manager.close();
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('reports a run ready when a sync lands between its start and its ready line', async () => {
    const s = spec();
    await manager.create(s);
    const started = await manager.power({ server_id: s.id, action: 'start', spec: s });
    expect(started).toMatchObject({ state: 'running', run_id: expect.any(String) });

    const [observed] = await manager.sync([s]);
    expect(observed).toMatchObject({ id: s.id, state: 'running', run_id: started.run_id });
    await manager.write(s.id, 'go');

    await eventually(() => reported.ready.length > 0, 10_000);
    expect(reported.ready).toEqual([{ id: s.id, runId: started.run_id }]);
  });

  it('hands the last stderr lines of a run that exited on its own to the exit report', async () => {
    const s = spec({ startup: 'echo "Server ready"; echo "cannot bind port" >&2; exit 3', ready_pattern: undefined });
    await manager.create(s);
    await manager.power({ server_id: s.id, action: 'start', spec: s });

    await eventually(() => reported.exited.length > 0, 10_000);
    expect(reported.exited[0]).toMatchObject({ id: s.id, facts: { code: 3, expected: false }, stderrTail: ['cannot bind port'] });
  });
});
