import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DomainError, type AgentServerSpec, type ExitFacts, type ObservedServer, type PowerCommand, type PowerReply } from '@encedeus/contracts';
import type { ConsoleStream, Driver, ExitInfo, ServerSpec } from '../drivers/driver';

/** What the agent remembers about a server across restarts (`<dataDir>/servers.json`). */
interface ServerRecord {
  spec: AgentServerSpec;
  runId: string | null;
  installed: boolean;
}

interface Managed extends ServerRecord {
  driver: Driver;
  queue: Promise<unknown>;
  ready: boolean;
  readyPattern?: RegExp;
  lastExit?: ExitFacts & { run_id: string | null };
  detach?: () => void;
  /** The last stderr lines of the current run. */
  stderrTail: string[];
}

const STDERR_TAIL_LINES = 5;

/** Where the manager sends what happens (console lines, state facts). */
export interface ServerSink {
  line(serverId: string, line: string, stream: ConsoleStream | 'system'): void;
  ready(serverId: string, runId: string): void;
  started(serverId: string, runId: string): void;
  /** @param stderrTail the run's last stderr lines (why it stopped, when it was not asked to) */
  exited(serverId: string, runId: string | null, facts: ExitFacts, stderrTail: string[]): void;
  /** The set of servers changed (console subscriptions follow it). */
  changed(serverIds: string[]): void;
}

/**
 * The agent's servers: one queue per server so power actions run one at a time (the nodes service
 * serializes too, this guards against a second caller), run ids so late facts of an old run are
 * recognisable, ready-pattern detection on the console, and persistence for re-attaching after a restart.
 */
export class ServerManager {
  private readonly servers = new Map<string, Managed>();
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly dataDir: string,
    private readonly drivers: Map<string, Driver>,
    private readonly sink: ServerSink,
  ) {
    for (const driver of drivers.values()) driver.on('exit', (id, info) => this.onExit(id, info));
  }

  ids(): string[] {
    return [...this.servers.keys()];
  }

  /** `limits.disk_mb` of a server this agent runs (0: no limit), undefined for one it does not run. */
  diskLimitMb(id: string): number | undefined {
    return this.servers.get(id)?.spec.limits.disk_mb;
  }

  /** Applies the full desired set: creates and installs what is missing, re-attaches to what survived, removes what is gone. */
  async sync(desired: AgentServerSpec[]): Promise<(ObservedServer & { exit?: ExitFacts })[]> {
    const records = await this.loadRecords();
    const wanted = new Set(desired.map((s) => s.id));
    for (const id of [...this.servers.keys(), ...Object.keys(records)]) {
      if (!wanted.has(id)) await this.remove(id).catch(() => undefined);
    }
    const observed = await Promise.all(
      desired.map((spec) =>
        this.serial(spec.id, spec, async (m) => {
          const record = records[spec.id];
          if (record && m.runId === null && record.runId) m.runId = record.runId;
          if (record) m.installed = m.installed || record.installed;
          const startedHere = m.driver.state(spec.id) === 'running';
          const state = await m.driver.recover(this.driverSpec(spec));
          this.attach(m);
          if (!m.installed) await this.installNow(m);
          // Only a run found again (started by an earlier agent process) is taken as ready: marking a run of
          // ours ready here would swallow its ready report, and the nodes service drops this sync's view of
          // the server as stale once a power action ran since it was sent, so the server stayed 'starting'.
          if (state === 'running' && !startedHere) m.ready = true;
          if (state === 'exited') m.runId = null;
          const exit = m.lastExit;
          m.lastExit = undefined;
          return {
            id: spec.id,
            state: state === 'running' ? ('running' as const) : ('stopped' as const),
            run_id: state === 'running' ? m.runId : null,
            installed: m.installed,
            ...(exit ? { exit } : {}),
          };
        }),
      ),
    );
    await this.save();
    this.sink.changed(this.ids());
    return observed;
  }

  /** Creates the server (directory, driver state) and runs the template's install script once. */
  create(spec: AgentServerSpec): Promise<{ installed: boolean; error?: string }> {
    return this.serial(spec.id, spec, async (m) => {
      await m.driver.create(this.driverSpec(spec));
      this.attach(m);
      const result = m.installed ? { installed: true } : await this.installNow(m);
      await this.save();
      this.sink.changed(this.ids());
      return result;
    });
  }

  power(cmd: PowerCommand): Promise<PowerReply> {
    const known = this.servers.get(cmd.server_id);
    if (!known && !cmd.spec) throw new DomainError('NOT_FOUND', `agent: server ${cmd.server_id} is not on this node`);
    return this.serial(cmd.server_id, cmd.spec ?? known!.spec, async (m) => {
      // Fast path: start of a running server with an unchanged spec touches nothing.
      if (cmd.action === 'start' && m.driver.state(m.spec.id) === 'running' && (!cmd.spec || JSON.stringify(cmd.spec) === JSON.stringify(m.spec))) {
        return { state: 'running', run_id: m.runId };
      }
      let exit: PowerReply['exit'];
      const stopNow = async (kill: boolean) => {
        if (m.driver.state(m.spec.id) !== 'running') return;
        m.lastExit = undefined;
        if (kill) {
          await m.driver.kill(m.spec.id, 'SIGKILL');
          await this.waitStopped(m, 10_000);
        } else {
          await m.driver.stop(m.spec.id);
        }
        exit = m.lastExit;
      };
      switch (cmd.action) {
        case 'start':
          await this.startNow(m, cmd.spec);
          break;
        case 'stop':
          await stopNow(false);
          break;
        case 'kill':
          await stopNow(true);
          break;
        case 'restart':
          await stopNow(false);
          await this.startNow(m, cmd.spec);
          break;
      }
      await this.save();
      const running = m.driver.state(m.spec.id) === 'running';
      return { state: running ? 'running' : 'stopped', run_id: running ? m.runId : null, ...(exit ? { exit } : {}) };
    });
  }

  async write(serverId: string, line: string): Promise<void> {
    const m = this.servers.get(serverId);
    if (!m) throw new DomainError('NOT_FOUND', `agent: server ${serverId} is not on this node`);
    await m.driver.write(serverId, line);
  }

  remove(serverId: string): Promise<void> {
    const m = this.servers.get(serverId);
    const run = async () => {
      m?.detach?.();
      for (const driver of this.drivers.values()) await driver.remove(serverId).catch(() => undefined);
      this.servers.delete(serverId);
      await this.save();
      this.sink.changed(this.ids());
    };
    if (!m) return run();
    const result = m.queue.then(run, run);
    m.queue = result.catch(() => undefined);
    return result;
  }

  /** Current usage of every running server. */
  async stats() {
    const samples = [];
    for (const m of this.servers.values()) {
      const s = await m.driver.stats(m.spec.id).catch(() => undefined);
      if (s) {
        samples.push({
          server_id: m.spec.id,
          cpu_percent: Math.round(s.cpuPercent * 100) / 100,
          memory_bytes: s.memoryBytes,
          memory_limit_bytes: s.memoryLimitBytes,
          disk_bytes: s.diskBytes,
          uptime_ms: s.uptimeMs,
        });
      }
    }
    return samples;
  }

  async close(): Promise<void> {
    await this.save();
    for (const driver of this.drivers.values()) await driver.close().catch(() => undefined);
  }

  // ---------- internals

  private async startNow(m: Managed, spec?: AgentServerSpec): Promise<void> {
    if (spec) {
      m.spec = spec;
      m.readyPattern = compile(spec.ready_pattern);
      await m.driver.create(this.driverSpec(spec));
      this.attach(m);
    }
    if (m.driver.state(m.spec.id) === 'running') return;
    m.runId = randomUUID();
    m.ready = false;
    m.lastExit = undefined;
    m.stderrTail = [];
    await m.driver.start(m.spec.id);
    this.sink.line(m.spec.id, `[encedeus] server started (run ${m.runId})`, 'system');
    if (!m.readyPattern) {
      m.ready = true;
      this.sink.ready(m.spec.id, m.runId);
    }
  }

  private async installNow(m: Managed): Promise<{ installed: boolean; error?: string }> {
    const script = m.spec.install_script;
    if (!script) {
      m.installed = true;
      return { installed: true };
    }
    this.sink.line(m.spec.id, '[encedeus] running install script', 'system');
    const result = await m.driver.exec(m.spec.id, ['sh', '-c', script], { timeoutMs: 600_000 });
    for (const line of `${result.stdout}${result.stderr}`.split('\n').filter(Boolean)) this.sink.line(m.spec.id, line, 'system');
    m.installed = result.exitCode === 0;
    return m.installed ? { installed: true } : { installed: false, error: `install script exited with ${result.exitCode}: ${result.stderr.slice(-500)}` };
  }

  private attach(m: Managed): void {
    if (m.detach) return;
    m.detach = m.driver.attach(m.spec.id, (line, stream) => {
      this.sink.line(m.spec.id, line, stream);
      if (stream === 'stderr') {
        m.stderrTail.push(line.slice(0, 300));
        if (m.stderrTail.length > STDERR_TAIL_LINES) m.stderrTail.shift();
      }
      if (!m.ready && m.runId && m.readyPattern?.test(line)) {
        m.ready = true;
        this.sink.ready(m.spec.id, m.runId);
      }
    });
  }

  private onExit(id: string, info: ExitInfo): void {
    const m = this.servers.get(id);
    if (!m) return;
    const facts: ExitFacts = { code: info.code, signal: info.signal, expected: info.expected, ...(info.reason ? { reason: info.reason } : {}) };
    const runId = m.runId;
    m.lastExit = { ...facts, run_id: runId };
    m.runId = null;
    m.ready = false;
    this.sink.line(id, `[encedeus] server exited (code ${info.code ?? '?'}${info.signal ? `, ${info.signal}` : ''}${info.expected ? '' : ', unexpected'})`, 'system');
    this.sink.exited(id, runId, facts, m.stderrTail);
    m.stderrTail = [];
    void this.save();
  }

  /**
   * After a kill: waits for the driver's 'exit' event, not only for state 'stopped': the process
   * driver flips the state first and releases the cgroup after, so a start right after would race it.
   */
  private async waitStopped(m: Managed, ms: number): Promise<void> {
    const until = Date.now() + ms;
    while ((m.driver.state(m.spec.id) === 'running' || !m.lastExit) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  }

  private serial<T>(id: string, spec: AgentServerSpec, action: (m: Managed) => Promise<T>): Promise<T> {
    let m = this.servers.get(id);
    if (!m) {
      const driver = this.drivers.get(spec.driver);
      if (!driver) return Promise.reject(new DomainError('UNPROCESSABLE', `agent: driver ${spec.driver} is not available on this node`));
      m = { spec, runId: null, installed: false, driver, queue: Promise.resolve(), ready: false, readyPattern: compile(spec.ready_pattern), stderrTail: [] };
      this.servers.set(id, m);
    }
    const managed = m;
    const result = managed.queue.then(() => action(managed), () => action(managed));
    managed.queue = result.catch(() => undefined);
    return result;
  }

  private driverSpec(spec: AgentServerSpec): ServerSpec {
    return {
      id: spec.id,
      dir: join(this.dataDir, 'volumes', spec.id),
      image: spec.image,
      startup: spec.startup,
      env: spec.env,
      limits: { memoryMb: spec.limits.memory_mb, cpuPercent: spec.limits.cpu_percent, diskMb: spec.limits.disk_mb },
      ports: spec.ports.map((p) => ({ host: p.host, container: p.container, protocol: p.protocol })),
      stop: { command: spec.stop.command, signal: spec.stop.signal as NodeJS.Signals | undefined, timeoutS: spec.stop.timeout_s },
    };
  }

  /** Path of a server's directory (tests check removal). */
  serverDir(id: string): string {
    return join(this.dataDir, 'volumes', id);
  }

  private async loadRecords(): Promise<Record<string, ServerRecord>> {
    const path = join(this.dataDir, 'servers.json');
    if (!existsSync(path)) return {};
    try {
      return JSON.parse(await readFile(path, 'utf8'));
    } catch {
      return {};
    }
  }

  private save(): Promise<void> {
    const write = async () => {
      const records: Record<string, ServerRecord> = {};
      for (const [id, m] of this.servers) records[id] = { spec: m.spec, runId: m.runId, installed: m.installed };
      await mkdir(this.dataDir, { recursive: true });
      const path = join(this.dataDir, 'servers.json');
      await writeFile(`${path}.tmp`, JSON.stringify(records), { mode: 0o600 });
      await rename(`${path}.tmp`, path);
    };
    this.saving = this.saving.then(write, write);
    return this.saving;
  }
}

function compile(pattern?: string): RegExp | undefined {
  if (!pattern) return undefined;
  try {
    return new RegExp(pattern);
  } catch {
    return undefined;
  }
}
