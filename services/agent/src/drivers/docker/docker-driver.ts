import { EventEmitter } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { isAbsolute } from 'node:path';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { CappedOutput, LineSplitter } from '../console-lines';
import { directorySize } from '../disk-usage';
import type {
  ConsoleStream,
  Driver,
  DriverCapabilities,
  DriverEvents,
  ExecOptions,
  ExecResult,
  ExitInfo,
  ServerSpec,
  ServerState,
  ServerStats,
} from '../driver';
import {
  DiskLimitExceededError,
  DriverError,
  InvalidServerSpecError,
  ServerNotFoundError,
  ServerNotRunningError,
} from '../driver-errors';

const MIB = 1024 * 1024;
/** Label every container of ours carries; its value is the server id. */
export const SERVER_LABEL = 'encedeus.server';

/** Options of the docker driver. */
export interface DockerDriverOptions {
  /** Engine client. @default new Docker() (DOCKER_HOST, else /var/run/docker.sock) */
  docker?: Docker;
  /** Network mode of containers ('bridge' maps ports; 'none' isolates completely; 'host' shares the node's). @default 'bridge' */
  network?: string;
  /** Where the server directory is mounted in the container (also the working directory). @default '/data' */
  dataMount?: string;
  /** How often the server directory is measured against its disk limit. @default 15000 */
  diskCheckMs?: number;
  /** Run docker-init (tini) as PID 1, so the stop signal reaches a shell startup line (PID 1 ignores unhandled signals). @default true */
  init?: boolean;
  /** Most processes and threads of one container (HostConfig.PidsLimit). @default 1024 */
  pidsMax?: number;
}

interface Entry {
  spec: ServerSpec;
  state: 'running' | 'stopped';
  /** Hijacked attach stream: demuxed output in, stdin out. */
  stream?: NodeJS.ReadWriteStream;
  splitters?: Record<ConsoleStream, LineSplitter>;
  listeners: Set<(line: string, stream: ConsoleStream) => void>;
  exitWaiters: Set<() => void>;
  stopRequested: boolean;
  diskExceeded: boolean;
  diskBytes: number;
  startedAt: number;
  timer?: NodeJS.Timeout;
  /** Bumped on every start, so a late wait() of an earlier run is ignored. */
  run: number;
  lock: Promise<unknown>;
}

interface DockerApiError {
  statusCode?: number;
}

const TERMINATING: ReadonlySet<NodeJS.Signals> = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP']);

function statusCode(error: unknown): number | undefined {
  return (error as DockerApiError)?.statusCode;
}

function signalName(signo: number): NodeJS.Signals | null {
  const found = Object.entries(osConstants.signals).find(([, value]) => value === signo);
  return found ? (found[0] as NodeJS.Signals) : null;
}

/** The container name of a server. */
export function containerName(id: string): string {
  return `encedeus-${id}`;
}

/** Container create options for a spec (pure; exported for tests). */
export function containerOptions(spec: ServerSpec, network: string, dataMount: string, init = true, pidsMax = 1024): Docker.ContainerCreateOptions {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const port of spec.ports) {
    const key = `${port.container}/${port.protocol}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: port.ip ?? '0.0.0.0', HostPort: String(port.host) });
  }
  const memory = spec.limits.memoryMb > 0 ? spec.limits.memoryMb * MIB : 0;
  return {
    name: containerName(spec.id),
    Image: spec.image,
    Cmd: ['/bin/sh', '-c', spec.startup],
    Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
    WorkingDir: dataMount,
    Labels: { [SERVER_LABEL]: spec.id },
    // stdin stays open without a client so the console can attach and detach at will.
    OpenStdin: true,
    StdinOnce: false,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    StopSignal: spec.stop.signal ?? 'SIGTERM',
    ExposedPorts: exposed,
    HostConfig: {
      Binds: [`${spec.dir}:${dataMount}`],
      Memory: memory,
      // Equal to Memory: no swap on top of the limit.
      MemorySwap: memory > 0 ? memory : undefined,
      NanoCpus: spec.limits.cpuPercent > 0 ? Math.round((spec.limits.cpuPercent / 100) * 1e9) : 0,
      PortBindings: network === 'bridge' ? bindings : undefined,
      NetworkMode: network,
      Init: init,
      PidsLimit: pidsMax,
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '1' } },
    },
  };
}

/**
 * Runs each server in a container `encedeus-<id>` labelled `encedeus.server=<id>`, its directory
 * bind-mounted at /data. A container lives for one run: it is created on start and removed once its
 * exit was handled, so a container found exited by `recover` is one that ended while the agent was away.
 */
export class DockerDriver extends EventEmitter<DriverEvents> implements Driver {
  readonly name = 'docker' as const;
  private readonly docker: Docker;
  private readonly network: string;
  private readonly dataMount: string;
  private readonly diskCheckMs: number;
  private readonly init: boolean;
  private readonly pidsMax: number;
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(options: DockerDriverOptions = {}) {
    super();
    this.docker = options.docker ?? new Docker();
    this.network = options.network ?? 'bridge';
    this.dataMount = options.dataMount ?? '/data';
    this.diskCheckMs = options.diskCheckMs ?? 15_000;
    this.init = options.init ?? true;
    this.pidsMax = options.pidsMax ?? 1024;
  }

  async capabilities(): Promise<DriverCapabilities> {
    let info: { ServerVersion?: string; CgroupVersion?: string; MemoryLimit?: boolean; CpuCfsQuota?: boolean; PidsLimit?: boolean };
    try {
      info = await this.docker.info();
    } catch (cause) {
      throw new DriverError('drivers/docker: engine does not answer', { cause });
    }
    return {
      driver: 'docker',
      memory: info.MemoryLimit ? 'docker' : 'none',
      cpu: info.CpuCfsQuota ? 'docker' : 'none',
      disk: 'watcher',
      network: this.network === 'host' ? 'host' : this.network === 'none' ? 'none' : 'isolated',
      user: 'container',
      tmp: 'private',
      pids: info.PidsLimit ? 'docker' : 'none',
      survivesAgentRestart: true,
      notes: [`engine ${info.ServerVersion ?? '?'}, cgroup ${info.CgroupVersion ?? '?'}, network ${this.network}`],
    };
  }

  async create(spec: ServerSpec): Promise<void> {
    if (!spec.image) throw new InvalidServerSpecError(`drivers/docker: server ${spec.id} has no image`);
    if (!isAbsolute(spec.dir)) throw new InvalidServerSpecError(`drivers/docker: server dir must be absolute: ${spec.dir}`);
    try {
      await mkdir(spec.dir, { recursive: true });
    } catch (cause) {
      throw new DriverError(`drivers/docker: failed to create directory of server ${spec.id}`, { cause });
    }
    await this.ensureImage(spec.image);
    const entry = this.entries.get(spec.id);
    if (!entry) {
      this.entries.set(spec.id, this.newEntry(spec));
      return;
    }
    entry.spec = spec;
    if (entry.state === 'running') {
      const memory = spec.limits.memoryMb > 0 ? spec.limits.memoryMb * MIB : 0;
      await this.container(spec.id)
        .update({ Memory: memory, MemorySwap: memory > 0 ? memory : -1, NanoCpus: Math.round((spec.limits.cpuPercent / 100) * 1e9) })
        .catch((cause: unknown) => {
          throw new DriverError(`drivers/docker: failed to update limits of server ${spec.id}`, { cause });
        });
    }
  }

  start(id: string): Promise<void> {
    const entry = this.entry(id);
    return this.serial(entry, () => this.startNow(entry));
  }

  stop(id: string): Promise<void> {
    const entry = this.entry(id);
    return this.serial(entry, () => this.stopNow(entry));
  }

  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const entry = this.entry(id);
    if (entry.state !== 'running') return;
    if (TERMINATING.has(signal)) entry.stopRequested = true;
    try {
      await this.container(id).kill({ signal });
    } catch (error) {
      if (statusCode(error) === 404 || statusCode(error) === 409) return;
      throw new DriverError(`drivers/docker: failed to kill server ${id}`, { cause: error });
    }
  }

  async remove(id: string): Promise<void> {
    const entry = this.entries.get(id);
    const work = async () => {
      if (entry) await this.stopNow(entry);
      await this.removeContainer(id);
      this.entries.delete(id);
      if (entry) {
        clearInterval(entry.timer);
        await rm(entry.spec.dir, { recursive: true, force: true }).catch((cause: unknown) => {
          throw new DriverError(`drivers/docker: failed to delete files of server ${id}`, { cause });
        });
      }
    };
    await (entry ? this.serial(entry, work) : work());
  }

  attach(id: string, onLine: (line: string, stream: ConsoleStream) => void): () => void {
    const entry = this.entry(id);
    entry.listeners.add(onLine);
    return () => entry.listeners.delete(onLine);
  }

  async write(id: string, input: string): Promise<void> {
    const entry = this.entry(id);
    if (entry.state !== 'running') throw new ServerNotRunningError(id);
    const stream = entry.stream ?? (await this.openAttach(entry));
    const line = input.endsWith('\n') ? input : `${input}\n`;
    await new Promise<void>((resolve, reject) =>
      stream.write(line, (error) => (error ? reject(new DriverError(`drivers/docker: failed to write to server ${id}`, { cause: error })) : resolve())),
    );
  }

  async stats(id: string): Promise<ServerStats | undefined> {
    const entry = this.entry(id);
    if (entry.state !== 'running') return undefined;
    let sample: Docker.ContainerStats;
    try {
      // Not one-shot: the engine then takes two samples a second apart and fills precpu_stats.
      sample = await this.container(id).stats({ stream: false });
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw new DriverError(`drivers/docker: failed to read stats of server ${id}`, { cause: error });
    }
    const cpu = sample.cpu_stats;
    const pre = sample.precpu_stats;
    const cpuDelta = cpu.cpu_usage.total_usage - (pre?.cpu_usage?.total_usage ?? 0);
    const systemDelta = cpu.system_cpu_usage - (pre?.system_cpu_usage ?? 0);
    const cpus = cpu.online_cpus || cpu.cpu_usage.percpu_usage?.length || 1;
    const memory = sample.memory_stats;
    const inactive = memory.stats?.total_inactive_file ?? memory.stats?.inactive_file ?? 0;
    return {
      cpuPercent: systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0,
      memoryBytes: Math.max(0, (memory.usage ?? 0) - inactive),
      memoryLimitBytes: entry.spec.limits.memoryMb > 0 ? entry.spec.limits.memoryMb * MIB : memory.limit ?? 0,
      diskBytes: entry.diskBytes,
      uptimeMs: Date.now() - entry.startedAt,
    };
  }

  async exec(id: string, command: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const entry = this.entry(id);
    if (entry.state !== 'running') throw new ServerNotRunningError(id);
    if (command.length === 0) throw new InvalidServerSpecError('drivers/docker: exec needs a command');
    try {
      const exec = await this.container(id).exec({ Cmd: command, AttachStdout: true, AttachStderr: true, WorkingDir: this.dataMount });
      const stream = await exec.start({ hijack: true, stdin: false });
      const stdout = new CappedOutput();
      const stderr = new CappedOutput();
      const out = new PassThrough().on('data', (chunk: Buffer) => stdout.push(chunk));
      const err = new PassThrough().on('data', (chunk: Buffer) => stderr.push(chunk));
      this.docker.modem.demuxStream(stream, out, err);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          stream.destroy();
          reject(new DriverError(`drivers/docker: exec in server ${id} took longer than ${options.timeoutMs ?? 60_000} ms`));
        }, options.timeoutMs ?? 60_000);
        stream.once('end', () => (clearTimeout(timer), resolve()));
        stream.once('close', () => (clearTimeout(timer), resolve()));
        stream.once('error', (error) => (clearTimeout(timer), reject(error)));
      });
      const { ExitCode } = await exec.inspect();
      return { exitCode: ExitCode ?? -1, stdout: stdout.text(), stderr: stderr.text() };
    } catch (error) {
      if (error instanceof DriverError) throw error;
      throw new DriverError(`drivers/docker: failed to exec in server ${id}`, { cause: error });
    }
  }

  async recover(spec: ServerSpec): Promise<'running' | 'exited'> {
    if (!this.entries.has(spec.id)) this.entries.set(spec.id, this.newEntry(spec));
    const entry = this.entry(spec.id);
    entry.spec = spec;
    if (entry.state === 'running') return 'running';
    let found: Docker.ContainerInfo[];
    try {
      found = await this.docker.listContainers({ all: true, filters: { label: [`${SERVER_LABEL}=${spec.id}`] } });
    } catch (cause) {
      throw new DriverError(`drivers/docker: failed to list containers of server ${spec.id}`, { cause });
    }
    const container = found[0];
    if (!container) return 'exited';
    if (container.State === 'running') {
      const inspect = await this.container(spec.id).inspect();
      entry.state = 'running';
      entry.startedAt = Date.parse(inspect.State.StartedAt) || Date.now();
      const run = ++entry.run;
      await this.openAttach(entry);
      this.watchExit(entry, run);
      this.startDiskWatch(entry);
      return 'running';
    }
    if (container.State === 'exited' || container.State === 'dead') {
      // Ended while no agent watched: report it like any exit, then drop the container.
      entry.state = 'running';
      await this.onExit(entry, entry.run);
    }
    return 'exited';
  }

  state(id: string): ServerState {
    return this.entries.get(id)?.state ?? 'unknown';
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const entry of this.entries.values()) {
      clearInterval(entry.timer);
      entry.stream?.removeAllListeners();
      (entry.stream as unknown as { destroy?: () => void })?.destroy?.();
      entry.stream = undefined;
    }
    this.entries.clear();
  }

  private async startNow(entry: Entry): Promise<void> {
    if (entry.state === 'running') return;
    const { spec } = entry;
    const limitBytes = spec.limits.diskMb * MIB;
    entry.diskBytes = await directorySize(spec.dir);
    if (limitBytes > 0 && entry.diskBytes > limitBytes) throw new DiskLimitExceededError(spec.id, entry.diskBytes, limitBytes);
    await this.removeContainer(spec.id);
    try {
      await this.docker.createContainer(containerOptions(spec, this.network, this.dataMount, this.init, this.pidsMax));
    } catch (cause) {
      throw new DriverError(`drivers/docker: failed to create container of server ${spec.id}`, { cause });
    }
    entry.stopRequested = false;
    entry.diskExceeded = false;
    const run = ++entry.run;
    // Attach before start (like `docker start -a`), or the first lines are lost.
    await this.openAttach(entry);
    try {
      await this.container(spec.id).start();
    } catch (cause) {
      throw new DriverError(`drivers/docker: failed to start container of server ${spec.id}`, { cause });
    }
    entry.state = 'running';
    entry.startedAt = Date.now();
    this.watchExit(entry, run);
    this.startDiskWatch(entry);
  }

  private async stopNow(entry: Entry): Promise<void> {
    if (entry.state !== 'running') return;
    const { stop, id } = { ...entry.spec, id: entry.spec.id };
    entry.stopRequested = true;
    const phaseMs = Math.max(0, stop.timeoutS) * 1000;
    if (stop.command) {
      await this.write(id, stop.command).catch(() => undefined);
      if (await this.waitForExit(entry, phaseMs)) return;
    }
    try {
      // The engine sends the container's StopSignal, waits t seconds, then SIGKILLs.
      await this.container(id).stop({ t: Math.ceil(stop.timeoutS) });
    } catch (error) {
      if (statusCode(error) !== 304 && statusCode(error) !== 404) {
        throw new DriverError(`drivers/docker: failed to stop server ${id}`, { cause: error });
      }
    }
    if (!(await this.waitForExit(entry, 10_000))) throw new DriverError(`drivers/docker: server ${id} did not stop`);
  }

  private watchExit(entry: Entry, run: number): void {
    this.container(entry.spec.id)
      .wait()
      .then(
        () => this.onExit(entry, run),
        () => this.onExit(entry, run),
      )
      .catch(() => undefined);
  }

  private async onExit(entry: Entry, run: number): Promise<void> {
    if (this.closed || entry.run !== run || entry.state !== 'running') return;
    entry.state = 'stopped';
    clearInterval(entry.timer);
    let info: ExitInfo = { code: null, signal: null, expected: entry.stopRequested };
    try {
      const { State } = await this.container(entry.spec.id).inspect();
      const code = State.ExitCode;
      info = { code, signal: code > 128 ? signalName(code - 128) : null, expected: entry.stopRequested };
      if (entry.diskExceeded) info.reason = 'disk_exceeded';
      else if (State.OOMKilled) info.reason = 'oom';
    } catch {
      // removed behind our back: the exit status is lost
    }
    // Let the attach stream deliver what the container wrote last.
    await new Promise((resolve) => setTimeout(resolve, 50));
    entry.splitters?.stdout.flush();
    entry.splitters?.stderr.flush();
    entry.stream = undefined;
    entry.splitters = undefined;
    await this.removeContainer(entry.spec.id).catch(() => undefined);
    for (const resolve of entry.exitWaiters) resolve();
    entry.exitWaiters.clear();
    this.emit('exit', entry.spec.id, info);
  }

  private async openAttach(entry: Entry): Promise<NodeJS.ReadWriteStream> {
    let stream: NodeJS.ReadWriteStream;
    try {
      stream = await this.container(entry.spec.id).attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    } catch (cause) {
      throw new DriverError(`drivers/docker: failed to attach to server ${entry.spec.id}`, { cause });
    }
    const splitter = (name: ConsoleStream) =>
      new LineSplitter((line) => {
        for (const listener of entry.listeners) listener(line, name);
        this.emit('output', entry.spec.id, line, name);
      });
    const splitters = { stdout: splitter('stdout'), stderr: splitter('stderr') };
    const out = new PassThrough().on('data', (chunk: Buffer) => splitters.stdout.push(chunk));
    const err = new PassThrough().on('data', (chunk: Buffer) => splitters.stderr.push(chunk));
    this.docker.modem.demuxStream(stream, out, err);
    stream.on('error', () => undefined);
    entry.stream = stream;
    entry.splitters = splitters;
    return stream;
  }

  private startDiskWatch(entry: Entry): void {
    clearInterval(entry.timer);
    let measuring = false;
    entry.timer = setInterval(() => {
      if (measuring) return;
      measuring = true;
      void this.checkDisk(entry).finally(() => (measuring = false));
    }, this.diskCheckMs);
  }

  private async checkDisk(entry: Entry): Promise<void> {
    entry.diskBytes = await directorySize(entry.spec.dir);
    const limitBytes = entry.spec.limits.diskMb * MIB;
    if (limitBytes <= 0 || entry.diskBytes <= limitBytes || entry.diskExceeded || entry.state !== 'running') return;
    entry.diskExceeded = true;
    this.emit('disk_exceeded', entry.spec.id, { diskBytes: entry.diskBytes, limitBytes });
    await this.stop(entry.spec.id).catch(() => undefined);
  }

  private async ensureImage(image: string): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
      return;
    } catch (error) {
      if (statusCode(error) !== 404) throw new DriverError('drivers/docker: engine does not answer', { cause: error });
    }
    try {
      const progress = await this.docker.pull(image);
      await new Promise<void>((resolve, reject) => this.docker.modem.followProgress(progress, (error: Error | null) => (error ? reject(error) : resolve())));
    } catch (cause) {
      throw new InvalidServerSpecError(`drivers/docker: image ${image} is not on this node and cannot be pulled: ${(cause as Error).message}`);
    }
  }

  private async removeContainer(id: string): Promise<void> {
    try {
      await this.container(id).remove({ force: true, v: true });
    } catch (error) {
      // 404: nothing to remove; 409: the engine is already removing it.
      if (statusCode(error) !== 404 && statusCode(error) !== 409) {
        throw new DriverError(`drivers/docker: failed to remove container of server ${id}`, { cause: error });
      }
    }
  }

  private waitForExit(entry: Entry, ms: number): Promise<boolean> {
    if (entry.state !== 'running') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        entry.exitWaiters.delete(done);
        resolve(false);
      }, ms);
      entry.exitWaiters.add(done);
    });
  }

  private container(id: string): Docker.Container {
    return this.docker.getContainer(containerName(id));
  }

  private entry(id: string): Entry {
    const entry = this.entries.get(id);
    if (!entry) throw new ServerNotFoundError(id);
    return entry;
  }

  private newEntry(spec: ServerSpec): Entry {
    return {
      spec,
      state: 'stopped',
      listeners: new Set(),
      exitWaiters: new Set(),
      stopRequested: false,
      diskExceeded: false,
      diskBytes: 0,
      startedAt: 0,
      run: 0,
      lock: Promise.resolve(),
    };
  }

  private serial<T>(entry: Entry, action: () => Promise<T>): Promise<T> {
    const result = entry.lock.then(action, action);
    entry.lock = result.catch(() => undefined);
    return result;
  }
}
