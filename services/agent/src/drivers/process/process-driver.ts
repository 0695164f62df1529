import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { constants as fsConstants, existsSync } from 'node:fs';
import { chmod, mkdir, open, readFile, rm, stat, writeFile, rename } from 'node:fs/promises';
import { constants as osConstants, totalmem } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { Cgroup, cgroupSupport, type CgroupDirs, type CgroupVersion } from '../cgroups';
import { CappedOutput } from '../console-lines';
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
import { CLOCK_TICKS_PER_SECOND, groupProcesses, isAlive, killUid, readProcStat, signalGroup } from '../proc';
import { dropToUid, sandboxSupport } from '../../sandbox/sandbox-support';
import { UidPool, type UidRange } from '../../sandbox/uid-pool';
import { LogTail } from './log-tail';

/** How long a write waits for a just-started run to open its stdin before calling it not running. */
const STDIN_READER_WAIT_MS = 5_000;

const execFileAsync = promisify(execFile);
const MIB = 1024 * 1024;

/** Options of the process driver. */
export interface ProcessDriverOptions {
  /** Folder for per-server state (pid, console logs, stdin FIFO); must survive agent restarts. */
  stateDir: string;
  /** How often console logs are read. @default 50 */
  logPollMs?: number;
  /** How often the server directory is measured against its disk limit. @default 15000 */
  diskCheckMs?: number;
  /** How often a recovered server (not our child, so no exit event) is checked for life. @default 250 */
  alivePollMs?: number;
  /** A console log is emptied after it grew past this many bytes and was read. @default 8 MiB */
  maxLogBytes?: number;
  /** PATH given to servers. @default the agent's PATH */
  path?: string;
  /** Uids given to servers, one each, kept in `<stateDir>/uids.json` (used when the agent is root). @default 200000-249999 */
  uids?: UidRange;
  /** Most processes and threads of one server (pids cgroup, else RLIMIT_NPROC of its uid). @default 1024 */
  pidsMax?: number;
  /** Size in MiB of a server's private /tmp (a tmpfs in its own mount namespace, where that works). @default 256 */
  tmpMb?: number;
}

/** Server uids when none are configured. */
export const DEFAULT_SERVER_UIDS: UidRange = { first: 200_000, last: 249_999 };

/** What `start` records in `<state>/run.json` so a restarted agent finds the server again. */
interface RunRecord {
  pid: number;
  /** /proc start time of pid; guards against a reused pid. */
  startTime: number;
  startedAt: number;
  cgroup?: { version: CgroupVersion; dirs: CgroupDirs };
  offsets: Record<ConsoleStream, number>;
}

interface Entry {
  spec: ServerSpec;
  state: 'running' | 'stopped';
  run?: RunRecord;
  child?: ChildProcess;
  cgroup?: Cgroup;
  tails?: Record<ConsoleStream, LogTail>;
  listeners: Set<(line: string, stream: ConsoleStream) => void>;
  exitWaiters: Set<() => void>;
  diskExceeded: boolean;
  diskBytes: number;
  timers: NodeJS.Timeout[];
  lastCpu?: { nanos: number; at: number };
  lock: Promise<unknown>;
  savedOffsetsAt: number;
}

// Runs as the process-group leader, as root. It joins the cgroups (given before `--`) before
// anything else runs, so every descendant is accounted; traps signals so a group-wide SIGTERM
// reaches the server while the wrapper survives to record the exit status (a restarted agent cannot
// waitpid() a non-child). A trap resets to the default in the exec'd child, unlike an ignored signal,
// which would be inherited. stdin is opened read-write so the FIFO never reports EOF when the agent
// goes away. The words after `--` (namespaces, rlimits, dropping to the server's uid) prefix
// `sh -c "$startup"`; the log and status files stay the root wrapper's, out of the server's reach.
const WRAPPER = `
state="$1"; startup="$2"; memkb="$3"; shift 3
while [ "$1" != -- ]; do
  echo $$ > "$1" || { echo "encedeus: cannot join cgroup $1" >> "$state/stderr.log"; exit 125; }
  shift
done
shift
if [ "$memkb" -gt 0 ]; then ulimit -v "$memkb" 2>> "$state/stderr.log" || exit 125; fi
trap : TERM INT HUP QUIT USR1 USR2
"$@" sh -c "$startup" <> "$state/stdin" >> "$state/stdout.log" 2>> "$state/stderr.log"
rc=$?
echo "$rc" > "$state/exit.tmp" && mv "$state/exit.tmp" "$state/exit"
exit "$rc"
`;

// Runs as root in the server's new mount namespace: a private tmpfs on /tmp; a server directory that
// itself lies under /tmp is bound back at its path (mount -c: "." is the still-open working directory,
// not resolved by its now hidden path). Then becomes the rest of the command line.
const PRIVATE_TMP = `
size="$1"; dir="$2"; shift 2
mount -t tmpfs -o "size=\${size}m,mode=1777" tmpfs /tmp || exit 125
case "$dir" in /tmp/*) mkdir -p "$dir" && mount -c --bind . "$dir" || exit 125 ;; esac
exec "$@"
`;

const TERMINATING: ReadonlySet<NodeJS.Signals> = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP']);

function signalName(signo: number): NodeJS.Signals | null {
  const found = Object.entries(osConstants.signals).find(([, value]) => value === signo);
  return found ? (found[0] as NodeJS.Signals) : null;
}

/** Exit info from the wrapper's status file (128+n means signal n), else from what node saw. */
export function exitStatus(recorded: number | undefined, childSignal: NodeJS.Signals | null): Pick<ExitInfo, 'code' | 'signal'> {
  if (recorded !== undefined && Number.isInteger(recorded)) {
    return { code: recorded, signal: recorded > 128 ? signalName(recorded - 128) : null };
  }
  if (childSignal) return { code: 128 + (osConstants.signals[childSignal] ?? 0), signal: childSignal };
  return { code: null, signal: null };
}

/**
 * Runs each server as `sh -c <startup>` in its own directory and process group, detached from the
 * agent: output goes to log files and input comes from a FIFO in `<stateDir>/<id>/`, so the server
 * survives an agent crash and `recover` picks it up again.
 */
export class ProcessDriver extends EventEmitter<DriverEvents> implements Driver {
  readonly name = 'process' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly logPollMs: number;
  private readonly diskCheckMs: number;
  private readonly alivePollMs: number;
  private readonly maxLogBytes: number;
  private readonly pidsMax: number;
  private readonly tmpMb: number;
  private readonly uids: UidPool;
  private readonly uidsById = new Map<string, number>();

  constructor(private readonly options: ProcessDriverOptions) {
    super();
    this.logPollMs = options.logPollMs ?? 50;
    this.diskCheckMs = options.diskCheckMs ?? 15_000;
    this.alivePollMs = options.alivePollMs ?? 250;
    this.maxLogBytes = options.maxLogBytes ?? 8 * MIB;
    this.pidsMax = options.pidsMax ?? 1024;
    this.tmpMb = options.tmpMb ?? 256;
    this.uids = new UidPool(options.uids ?? DEFAULT_SERVER_UIDS, join(options.stateDir, 'uids.json'));
  }

  async capabilities(): Promise<DriverCapabilities> {
    const cgroups = await cgroupSupport();
    const sandbox = await sandboxSupport();
    const version = cgroups.version === 'none' ? undefined : (`cgroup-${cgroups.version}` as const);
    const notes = [...cgroups.notes, ...sandbox.notes];
    if (!cgroups.memory) notes.push('memory limited by RLIMIT_AS (address space), not resident memory');
    if (!cgroups.cpu) notes.push('no writable cpu controller: CPU is not limited');
    const ownUid = sandbox.root && sandbox.setpriv;
    if (!cgroups.pids) notes.push(ownUid ? "no writable pids controller: processes limited by RLIMIT_NPROC of the server's uid" : 'processes are not limited');
    notes.push('ports are not mapped or isolated: the server binds host ports itself');
    return {
      driver: 'process',
      memory: cgroups.memory ? version! : 'rlimit',
      cpu: cgroups.cpu ? version! : 'none',
      disk: 'watcher',
      network: 'host',
      user: ownUid ? 'per-server-uid' : 'agent-user',
      tmp: ownUid && sandbox.mountNamespace ? 'private' : 'shared',
      pids: cgroups.pids ? version! : ownUid ? 'rlimit' : 'none',
      survivesAgentRestart: true,
      notes,
    };
  }

  async create(spec: ServerSpec): Promise<void> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(spec.id)) throw new InvalidServerSpecError(`drivers/process: invalid server id ${spec.id}`);
    if (!isAbsolute(spec.dir)) throw new InvalidServerSpecError(`drivers/process: server dir must be absolute: ${spec.dir}`);
    const remapped = spec.ports.find((p) => p.host !== p.container);
    if (remapped) throw new InvalidServerSpecError(`drivers/process: cannot map port ${remapped.host} to ${remapped.container}`);
    const state = this.stateDir(spec.id);
    try {
      // The agent's state (logs, FIFO, status, uids) is root's alone; servers only own their directory.
      await mkdir(this.options.stateDir, { recursive: true, mode: 0o700 });
      await chmod(this.options.stateDir, 0o700);
      await mkdir(state, { recursive: true, mode: 0o700 });
      // Parents made here are traversable (0711) so the server reaches its folder by path ($HOME), not listable.
      await mkdir(dirname(spec.dir), { recursive: true, mode: 0o711 });
      await mkdir(spec.dir, { recursive: true, mode: 0o700 });
      const uid = await this.serverUid(spec.id);
      if (uid !== undefined) await ownTree(spec.dir, uid);
      await chmod(spec.dir, 0o700);
      await writeFile(join(state, 'spec.json'), JSON.stringify(spec));
      if (!existsSync(join(state, 'stdin'))) await execFileAsync('mkfifo', ['-m', '600', join(state, 'stdin')]);
    } catch (cause) {
      throw new DriverError(`drivers/process: failed to prepare server ${spec.id}`, { cause });
    }
    const entry = this.entries.get(spec.id);
    if (!entry) {
      this.entries.set(spec.id, this.newEntry(spec));
      return;
    }
    entry.spec = spec;
    if (entry.state === 'running' && entry.cgroup) {
      await entry.cgroup.setLimits({ memoryBytes: spec.limits.memoryMb * MIB, cpuPercent: spec.limits.cpuPercent, pidsMax: this.pidsMax });
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
    if (entry.state !== 'running' || !entry.run) return;
    if (TERMINATING.has(signal)) await this.markStopRequested(entry, signal);
    signalGroup(entry.run.pid, signal);
    if (signal === 'SIGKILL') await entry.cgroup?.killAll();
  }

  async remove(id: string): Promise<void> {
    const entry = this.entries.get(id) ?? (await this.loadEntry(id));
    if (!entry) return;
    await this.serial(entry, async () => {
      await this.stopNow(entry);
      await entry.cgroup?.destroy().catch(() => undefined);
      this.entries.delete(id);
      try {
        await rm(this.stateDir(id), { recursive: true, force: true });
        await rm(entry.spec.dir, { recursive: true, force: true });
        // Without a cgroup, a process that left the server's group (setsid) is found by its uid; it
        // must not live on into the next server given this uid.
        const uid = this.runsAs(id);
        if (uid !== undefined) await killUid(uid);
        this.uidsById.delete(id);
        await this.uids.release(id);
      } catch (cause) {
        throw new DriverError(`drivers/process: failed to delete files of server ${id}`, { cause });
      }
    });
  }

  attach(id: string, onLine: (line: string, stream: ConsoleStream) => void): () => void {
    const entry = this.entry(id);
    entry.listeners.add(onLine);
    return () => entry.listeners.delete(onLine);
  }

  async write(id: string, input: string): Promise<void> {
    const entry = this.entry(id);
    if (entry.state !== 'running') throw new ServerNotRunningError(id);
    const line = input.endsWith('\n') ? input : `${input}\n`;
    let handle;
    // Non-blocking: with no reader (server gone) open fails with ENXIO instead of hanging. A run that
    // has just started may not have opened its end yet (the wrapper, setpriv and unshare come first,
    // slow on a loaded machine): keep trying for a moment while the run still counts as running.
    const deadline = Date.now() + STDIN_READER_WAIT_MS;
    for (;;) {
      try {
        handle = await open(join(this.stateDir(id), 'stdin'), fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENXIO') throw new DriverError(`drivers/process: failed to open stdin of server ${id}`, { cause: error });
        if (Date.now() > deadline || entry.state !== 'running') throw new ServerNotRunningError(id);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    try {
      await handle.write(line);
    } catch (cause) {
      throw new DriverError(`drivers/process: failed to write to stdin of server ${id}`, { cause });
    } finally {
      await handle.close();
    }
  }

  async stats(id: string): Promise<ServerStats | undefined> {
    const entry = this.entry(id);
    const run = entry.run;
    if (entry.state !== 'running' || !run) return undefined;
    let memoryBytes = await entry.cgroup?.memoryBytes();
    let cpuNanos = await entry.cgroup?.cpuNanos();
    if (memoryBytes === undefined || cpuNanos === undefined) {
      const members = await groupProcesses(run.pid);
      memoryBytes ??= members.reduce((sum, p) => sum + p.rssBytes, 0);
      cpuNanos ??= members.reduce((sum, p) => sum + p.cpuTicks, 0) * (1e9 / CLOCK_TICKS_PER_SECOND);
    }
    const now = Date.now();
    const previous = entry.lastCpu ?? { nanos: 0, at: run.startedAt };
    entry.lastCpu = { nanos: cpuNanos, at: now };
    const elapsedNs = Math.max(1, now - previous.at) * 1e6;
    const limit = entry.spec.limits.memoryMb;
    return {
      cpuPercent: Math.max(0, ((cpuNanos - previous.nanos) / elapsedNs) * 100),
      memoryBytes,
      memoryLimitBytes: limit > 0 ? limit * MIB : totalmem(),
      diskBytes: entry.diskBytes,
      uptimeMs: now - run.startedAt,
    };
  }

  async exec(id: string, command: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const entry = this.entry(id);
    if (command.length === 0) throw new InvalidServerSpecError('drivers/process: exec needs a command');
    const stdout = new CappedOutput();
    const stderr = new CappedOutput();
    const exitCode = await new Promise<number>((resolve) => {
      const uid = this.runsAs(entry.spec.id);
      // As the server's uid, no capabilities, and (no cgroup while it runs outside a start) RLIMIT_NPROC of that uid.
      const argv = uid === undefined ? command : ['prlimit', `--nproc=${this.pidsMax}`, '--', ...dropToUid(uid), ...command];
      const child = spawn(argv[0], argv.slice(1), { cwd: entry.spec.dir, env: this.serverEnv(entry.spec), detached: true });
      const timer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), options.timeoutMs ?? 60_000);
      child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      child.stdin.end();
      child.once('error', (error) => {
        clearTimeout(timer);
        stderr.push(Buffer.from(error.message));
        resolve(127);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve(code ?? 128 + (signal ? osConstants.signals[signal] : 0));
      });
    });
    return { exitCode, stdout: stdout.text(), stderr: stderr.text() };
  }

  async recover(spec: ServerSpec): Promise<'running' | 'exited'> {
    await this.create(spec);
    const entry = this.entry(spec.id);
    if (entry.state === 'running') return 'running';
    const state = this.stateDir(spec.id);
    const run = await readJson<RunRecord>(join(state, 'run.json'));
    if (!run) return 'exited';
    entry.run = run;
    entry.cgroup = Cgroup.open(run.cgroup);
    this.openTails(entry, run.offsets);
    // The wrapper writes `exit` as its last act: a recorded status means the server has ended, even
    // while the wrapper itself is still alive for a moment (it was reported as running, then exited later).
    const ended = existsSync(join(state, 'exit'));
    if (!ended && (await isAlive(run.pid, run.startTime))) {
      entry.state = 'running';
      this.startTimers(entry);
      const watch = setInterval(() => {
        void isAlive(run.pid, run.startTime).then((alive) => {
          if (!alive) void this.onExit(entry, run, null);
        });
      }, this.alivePollMs);
      entry.timers.push(watch);
      return 'running';
    }
    entry.state = 'running';
    await this.onExit(entry, run, null, false);
    return 'exited';
  }

  state(id: string): ServerState {
    return this.entries.get(id)?.state ?? 'unknown';
  }

  async close(): Promise<void> {
    for (const entry of this.entries.values()) {
      for (const timer of entry.timers) clearInterval(timer);
      entry.timers = [];
      entry.child?.removeAllListeners('exit');
      const tails = entry.tails;
      if (tails) {
        await this.saveOffsets(entry).catch(() => undefined);
        await Promise.all(Object.values(tails).map((tail) => tail.close(false)));
      }
    }
    this.entries.clear();
  }

  private async startNow(entry: Entry): Promise<void> {
    if (entry.state === 'running') return;
    const { spec } = entry;
    const state = this.stateDir(spec.id);
    const limitBytes = spec.limits.diskMb * MIB;
    entry.diskBytes = await directorySize(spec.dir);
    if (limitBytes > 0 && entry.diskBytes > limitBytes) throw new DiskLimitExceededError(spec.id, entry.diskBytes, limitBytes);
    await rm(join(state, 'exit'), { force: true });
    await rm(join(state, 'stop-requested'), { force: true });
    entry.diskExceeded = false;

    await entry.cgroup?.destroy().catch(() => undefined);
    const support = await cgroupSupport();
    try {
      entry.cgroup = await Cgroup.create(`servers/${spec.id}`, { memoryBytes: spec.limits.memoryMb * MIB, cpuPercent: spec.limits.cpuPercent, pidsMax: this.pidsMax });
    } catch (cause) {
      throw new DriverError(`drivers/process: failed to create cgroup of server ${spec.id}`, { cause });
    }
    const memKb = !support.memory && spec.limits.memoryMb > 0 ? spec.limits.memoryMb * 1024 : 0;
    const offsets = { stdout: await fileSize(join(state, 'stdout.log')), stderr: await fileSize(join(state, 'stderr.log')) };

    const prefix = await this.sandboxPrefix(spec, support.pids);
    const child = spawn('/bin/sh', ['-c', WRAPPER, 'encedeus-server', state, spec.startup, String(memKb), ...(entry.cgroup?.procsFiles() ?? []), '--', ...prefix], {
      cwd: spec.dir,
      env: this.serverEnv(spec),
      detached: true,
      stdio: 'ignore',
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (cause) {
      throw new DriverError(`drivers/process: failed to start server ${spec.id}`, { cause });
    }
    child.unref();
    // A quick startup line can exit while we still set up below; keep that exit for later.
    const exit: { early?: NodeJS.Signals | null; handle?: (signal: NodeJS.Signals | null) => void } = {};
    child.once('exit', (_code, signal) => (exit.handle ? exit.handle(signal) : (exit.early = signal)));
    const pid = child.pid!;
    const run: RunRecord = {
      pid,
      startTime: (await readProcStat(pid))?.startTime ?? 0,
      startedAt: Date.now(),
      cgroup: entry.cgroup?.toJSON(),
      offsets,
    };
    entry.run = run;
    entry.child = child;
    entry.state = 'running';
    entry.lastCpu = undefined;
    await writeJson(join(state, 'run.json'), run);
    this.openTails(entry, offsets);
    this.startTimers(entry);
    exit.handle = (signal) => void this.onExit(entry, run, signal);
    if (exit.early !== undefined) exit.handle(exit.early);
  }

  private async stopNow(entry: Entry): Promise<void> {
    if (entry.state !== 'running' || !entry.run) return;
    const { stop } = entry.spec;
    const pid = entry.run.pid;
    await this.markStopRequested(entry);
    const phaseMs = Math.max(0, stop.timeoutS) * 1000;
    if (stop.command) {
      await this.write(entry.spec.id, stop.command).catch(() => undefined);
      if (await this.waitForExit(entry, phaseMs)) return;
    }
    signalGroup(pid, stop.signal ?? 'SIGTERM');
    if (await this.waitForExit(entry, phaseMs)) return;
    await this.markStopRequested(entry, 'SIGKILL');
    signalGroup(pid, 'SIGKILL');
    await entry.cgroup?.killAll();
    if (!(await this.waitForExit(entry, 10_000))) {
      throw new DriverError(`drivers/process: server ${entry.spec.id} (pid ${pid}) did not die after SIGKILL`);
    }
  }

  /** @param leaderJustDied false when the exit is found long after the fact (recovery), when the pid may name another group by now */
  private async onExit(entry: Entry, run: RunRecord, childSignal: NodeJS.Signals | null, leaderJustDied = true): Promise<void> {
    if (entry.run !== run || entry.state !== 'running') return;
    entry.state = 'stopped';
    for (const timer of entry.timers) clearInterval(timer);
    entry.timers = [];
    const state = this.stateDir(entry.spec.id);
    // Whatever else is left in the group or cgroup (background children) dies with the server, as in a container.
    if (leaderJustDied) signalGroup(run.pid, 'SIGKILL');
    const oom = ((await entry.cgroup?.oomKills()) ?? 0) > 0;
    await entry.cgroup?.killAll();
    if (entry.tails) {
      const tails = Object.values(entry.tails);
      for (const tail of tails) await tail.poll().catch(() => false);
      await Promise.all(tails.map((tail) => tail.close(true)));
      entry.tails = undefined;
    }
    const recorded = await readFile(join(state, 'exit'), 'utf8').then((t) => Number(t.trim()), () => undefined);
    const requested = await readFile(join(state, 'stop-requested'), 'utf8').catch(() => undefined);
    const expected = requested !== undefined;
    // SIGKILL also kills the wrapper before it records a status; a recovered agent only knows it sent one.
    const sentKill = requested === 'SIGKILL' ? 'SIGKILL' : null;
    const info: ExitInfo = { ...exitStatus(recorded, childSignal ?? sentKill), expected };
    if (entry.diskExceeded) info.reason = 'disk_exceeded';
    else if (oom) info.reason = 'oom';
    await rm(join(state, 'run.json'), { force: true });
    await entry.cgroup?.destroy().catch(() => undefined);
    entry.cgroup = undefined;
    entry.run = undefined;
    entry.child = undefined;
    for (const resolve of entry.exitWaiters) resolve();
    entry.exitWaiters.clear();
    this.emit('exit', entry.spec.id, info);
  }

  private openTails(entry: Entry, offsets: Record<ConsoleStream, number>): void {
    const state = this.stateDir(entry.spec.id);
    const make = (stream: ConsoleStream) =>
      new LogTail(join(state, `${stream}.log`), offsets[stream], (line) => {
        for (const listener of entry.listeners) listener(line, stream);
        this.emit('output', entry.spec.id, line, stream);
      });
    entry.tails = { stdout: make('stdout'), stderr: make('stderr') };
  }

  private startTimers(entry: Entry): void {
    let polling = false;
    const logs = setInterval(() => {
      if (polling || !entry.tails) return;
      polling = true;
      void this.pollLogs(entry).finally(() => (polling = false));
    }, this.logPollMs);
    let measuring = false;
    const disk = setInterval(() => {
      if (measuring) return;
      measuring = true;
      void this.checkDisk(entry).finally(() => (measuring = false));
    }, this.diskCheckMs);
    entry.timers.push(logs, disk);
  }

  private async pollLogs(entry: Entry): Promise<void> {
    const tails = entry.tails;
    if (!tails) return;
    let read = false;
    for (const tail of Object.values(tails)) {
      read = (await tail.poll().catch(() => false)) || read;
      await tail.truncateIfOver(this.maxLogBytes).catch(() => undefined);
    }
    if (read && Date.now() - entry.savedOffsetsAt > 1000) await this.saveOffsets(entry).catch(() => undefined);
  }

  private async checkDisk(entry: Entry): Promise<void> {
    entry.diskBytes = await directorySize(entry.spec.dir);
    const limitBytes = entry.spec.limits.diskMb * MIB;
    if (limitBytes <= 0 || entry.diskBytes <= limitBytes || entry.diskExceeded || entry.state !== 'running') return;
    entry.diskExceeded = true;
    this.emit('disk_exceeded', entry.spec.id, { diskBytes: entry.diskBytes, limitBytes });
    await this.stop(entry.spec.id).catch(() => undefined);
  }

  private async saveOffsets(entry: Entry): Promise<void> {
    if (!entry.run || !entry.tails) return;
    entry.savedOffsetsAt = Date.now();
    entry.run.offsets = { stdout: entry.tails.stdout.offset, stderr: entry.tails.stderr.offset };
    await writeJson(join(this.stateDir(entry.spec.id), 'run.json'), entry.run);
  }

  /** Records that the agent asked for the exit (it survives an agent restart), and the last signal sent. */
  private async markStopRequested(entry: Entry, signal: NodeJS.Signals | '' = ''): Promise<void> {
    await writeFile(join(this.stateDir(entry.spec.id), 'stop-requested'), signal);
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

  /**
   * What runs before `sh -c <startup>`, as root: a mount namespace with a private /tmp, RLIMIT_NPROC
   * when there is no pids cgroup, and last the drop to the server's own uid. Empty when the agent is not root.
   */
  private async sandboxPrefix(spec: ServerSpec, pidsCgroup: boolean): Promise<string[]> {
    const sandbox = await sandboxSupport();
    const uid = this.runsAs(spec.id);
    if (uid === undefined) return [];
    const prefix: string[] = [];
    if (sandbox.mountNamespace) prefix.push('unshare', '-m', '--propagation', 'private', '--', '/bin/sh', '-c', PRIVATE_TMP, 'encedeus-tmp', String(this.tmpMb), spec.dir);
    // RLIMIT_NPROC counts every process of the real uid: with a uid per server it bounds this server.
    if (!pidsCgroup) prefix.push('prlimit', `--nproc=${this.pidsMax}`, '--');
    prefix.push(...dropToUid(uid));
    return prefix;
  }

  /** The server's uid (allocated on first use, persisted); undefined when the agent cannot drop root. */
  private async serverUid(id: string): Promise<number | undefined> {
    const sandbox = await sandboxSupport();
    if (!sandbox.root || !sandbox.setpriv) return undefined;
    const uid = await this.uids.allocate(id);
    this.uidsById.set(id, uid);
    return uid;
  }

  /** The uid a known server runs as (set by create). */
  private runsAs(id: string): number | undefined {
    return this.uidsById.get(id);
  }

  private serverEnv(spec: ServerSpec): NodeJS.ProcessEnv {
    return { PATH: this.options.path ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: spec.dir, ...spec.env };
  }

  private stateDir(id: string): string {
    return join(this.options.stateDir, id);
  }

  private entry(id: string): Entry {
    const entry = this.entries.get(id);
    if (!entry) throw new ServerNotFoundError(id);
    return entry;
  }

  private async loadEntry(id: string): Promise<Entry | undefined> {
    const spec = await readJson<ServerSpec>(join(this.stateDir(id), 'spec.json'));
    if (!spec) return undefined;
    await this.recover(spec);
    return this.entries.get(id);
  }

  private newEntry(spec: ServerSpec): Entry {
    return {
      spec,
      state: 'stopped',
      listeners: new Set(),
      exitWaiters: new Set(),
      diskExceeded: false,
      diskBytes: 0,
      timers: [],
      lock: Promise.resolve(),
      savedOffsetsAt: 0,
    };
  }

  private serial<T>(entry: Entry, action: () => Promise<T>): Promise<T> {
    const result = entry.lock.then(action, action);
    entry.lock = result.catch(() => undefined);
    return result;
  }
}

async function fileSize(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function writeJson(path: string, value: unknown): Promise<void> {
  // Write-then-rename so an agent killed mid-write never leaves half a file for the next one.
  await writeFile(`${path}.tmp`, JSON.stringify(value));
  await rename(`${path}.tmp`, path);
}

/** Makes uid the owner of a server directory; the whole tree only when the top is not its yet (first start, or files of an older agent). */
async function ownTree(dir: string, uid: number): Promise<void> {
  const top = await stat(dir);
  if (top.uid === uid && top.gid === uid) return;
  // -P: never follow a symlink the previous owner may have planted.
  await execFileAsync('chown', ['-R', '-P', `${uid}:${uid}`, dir]);
}
