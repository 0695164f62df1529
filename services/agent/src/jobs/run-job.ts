import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cgroup } from '../drivers/cgroups';
import { CappedOutput, LineSplitter } from '../drivers/console-lines';
import { killUid, signalGroup } from '../drivers/proc';
import { InvalidJobError, JobSandboxError, RuntimeUnavailableError } from './job-errors';
import { dropToUid } from '../sandbox/sandbox-support';
import { UidPool } from '../sandbox/uid-pool';
import { isolation, JOB_RUNTIMES, type JobRuntime } from './job-sandbox';

const MIB = 1024 * 1024;

/** A job: code to run once in a throw-away sandbox. */
export interface JobRequest {
  /** Interpreter. */
  runtime: JobRuntime;
  /** Source code (the whole program). */
  code: string;
  /** Given on stdin, which is then closed. @default empty */
  stdin?: string;
  /** Wall-clock limit from spawn; the whole process group is SIGKILLed at the limit. */
  timeoutMs: number;
  /** Memory limit in MiB (at least 16). */
  memoryMb: number;
}

/** How a job ended. 'killed' means the memory limit ended it; 'failed' is any other non-zero exit. */
export type JobStatus = 'succeeded' | 'failed' | 'timeout' | 'killed' | 'cancelled';

/** What a job produced (field names as in seed 001's lambda API). */
export interface JobResult {
  /** Captured stdout, at most outputCapBytes, then a truncation marker line. */
  stdout: string;
  /** Captured stderr, same cap. */
  stderr: string;
  /** Exit status; 128+n when signal n ended it. */
  exit_code: number;
  /** Milliseconds from spawn to exit. */
  execution_time_ms: number;
  /** How it ended. */
  status: JobStatus;
}

/** Output stream of a job line. */
export type JobStream = 'stdout' | 'stderr';

/** Options of runJob. */
export interface RunJobOptions {
  /** Aborting kills the job; it then resolves with status 'cancelled'. */
  signal?: AbortSignal;
  /** Receives each output line as it is printed (until that stream's cap; then one marker line). */
  onOutput?: (line: string, stream: JobStream) => void;
  /** Bytes kept per stream. @default 1 MiB */
  outputCapBytes?: number;
  /** Where each job's own uid comes from (released when it ends). @default defaultJobUids */
  uids?: UidPool;
  /** Most processes and threads a job may have at once. @default 64 */
  pidsMax?: number;
}

/** Job uids when the caller gives no pool: 250000-299999, in memory (a job's uid is free again once it ended). */
export const defaultJobUids = new UidPool({ first: 250_000, last: 299_999 });

const FILES: Record<JobRuntime, string> = { python3: 'main.py', node: 'main.js', bash: 'main.sh' };

// Out-of-memory messages of the runtimes when RLIMIT_AS (or V8's heap limit) makes an allocation fail
// instead of the OOM killer ending the process.
const OUT_OF_MEMORY = /MemoryError|JavaScript heap out of memory|Cannot allocate memory|xmalloc: cannot allocate|xrealloc: cannot allocate|out of memory/i;

// Joins every cgroup given before `--`, then becomes the rest of the command line; joining first
// means no code of the job ever runs outside its limits.
const JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

// Runs as PID 1 of the job's namespaces: mounts a private tmpfs on /tmp and binds the job's folder
// (still reachable as the working directory: `-c` keeps mount from resolving "." by its now hidden
// path) at /tmp/job, then runs the rest as a child, not with exec, so this root shell stays PID 1 and
// a SIGKILL of `unshare --kill-child` tears the whole namespace down.
const PRIVATE_TMP =
  'mount -t tmpfs -o "size=$1m,mode=1777" tmpfs /tmp && mkdir /tmp/job && mount -c --bind . /tmp/job && cd /tmp/job || exit 125; shift; "$@"; exit $?';

/** Where the job's folder appears inside its mount namespace. */
const JOB_DIR_INSIDE = '/tmp/job';

/** Size of a job's private /tmp (tmpfs pages count against its memory cgroup). */
const TMP_MB = 64;

/** Inputs of the sandbox command line. */
export interface SandboxPlan {
  /** Runtime. */
  runtime: JobRuntime;
  /** Interpreter binary. */
  interpreter: string;
  /** Program file, relative to the job's folder (its working directory). */
  file: string;
  /** Memory limit in MiB. */
  memoryMb: number;
  /** Wrap in an empty network namespace. */
  isolateNetwork: boolean;
  /** A mount namespace with a tmpfs on /tmp. */
  privateTmp: boolean;
  /** A PID namespace (only with privateTmp): the job sees and signals only its own processes. */
  privateProcesses: boolean;
  /** cgroup.procs files to join first. */
  cgroupProcs: string[];
  /** No memory cgroup: limit the address space (RLIMIT_AS) instead. */
  rlimitMemory: boolean;
  /** No pids cgroup: RLIMIT_NPROC of the job's uid instead. */
  rlimitProcesses?: number;
  /** The job's own uid (gid the same); absent when the agent is not root. */
  uid?: number;
}

/** The argv that runs a job: join cgroups → namespaces (mount + /tmp, pid, network) → rlimits → drop to the job's uid → interpreter. */
export function sandboxArgv(plan: SandboxPlan): string[] {
  const argv = ['/bin/sh', '-c', JOIN_CGROUPS, 'encedeus-job', ...plan.cgroupProcs, '--'];
  if (plan.privateTmp) {
    argv.push('unshare', '-m', '--propagation', 'private');
    if (plan.privateProcesses) argv.push('-p', '--fork', '--kill-child', '--mount-proc');
    if (plan.isolateNetwork) argv.push('-n');
    argv.push('--', '/bin/sh', '-c', PRIVATE_TMP, 'encedeus-tmp', String(TMP_MB));
  } else if (plan.isolateNetwork) {
    argv.push('unshare', '-n', '--');
  }
  const limits: string[] = [];
  if (plan.rlimitMemory) {
    // V8 reserves gigabytes of address space up front, so node gets a generous RLIMIT_AS and the heap flag does the limiting.
    const asBytes = plan.runtime === 'node' ? (plan.memoryMb + 4096) * MIB : plan.memoryMb * MIB;
    limits.push(`--as=${asBytes}`);
  }
  if (plan.rlimitProcesses) limits.push(`--nproc=${plan.rlimitProcesses}`);
  if (limits.length > 0) argv.push('prlimit', ...limits, '--');
  if (plan.uid !== undefined) argv.push(...dropToUid(plan.uid));
  argv.push(plan.interpreter);
  if (plan.runtime === 'python3') argv.push('-u', '-B');
  if (plan.runtime === 'node') argv.push(`--max-old-space-size=${Math.max(8, Math.floor(plan.memoryMb * 0.75))}`);
  if (plan.runtime === 'bash') argv.push('--noprofile', '--norc');
  argv.push(plan.file);
  return argv;
}

/** The status rule: cancel > timeout > memory (OOM kill, or an out-of-memory error on a failed exit) > exit status. */
export function jobStatus(outcome: { cancelled: boolean; timedOut: boolean; oomKilled: boolean; exitCode: number; stderr: string }): JobStatus {
  if (outcome.cancelled) return 'cancelled';
  if (outcome.timedOut) return 'timeout';
  if (outcome.oomKilled) return 'killed';
  if (outcome.exitCode === 0) return 'succeeded';
  return OUT_OF_MEMORY.test(outcome.stderr) ? 'killed' : 'failed';
}

function validate(request: JobRequest): void {
  if (!JOB_RUNTIMES.includes(request.runtime)) throw new InvalidJobError(`unknown runtime ${String(request.runtime)}`);
  if (typeof request.code !== 'string') throw new InvalidJobError('code must be a string');
  if (!(request.timeoutMs > 0) || !Number.isFinite(request.timeoutMs)) throw new InvalidJobError('timeoutMs must be a positive number');
  if (!(request.memoryMb >= 16) || !Number.isFinite(request.memoryMb)) throw new InvalidJobError('memoryMb must be at least 16');
}

/**
 * Runs code in an ephemeral sandbox: its own temp directory (deleted afterwards), process group,
 * memory cgroup (or RLIMIT_AS), network namespace and, where the interpreter allows, uid 65534.
 * Never rejects for what the code does; rejects only for a bad request or a sandbox that cannot be built.
 * @param options an AbortSignal, or options with one and an output callback
 */
export async function runJob(request: JobRequest, options: AbortSignal | RunJobOptions = {}): Promise<JobResult> {
  const { signal, onOutput, outputCapBytes, uids = defaultJobUids, pidsMax = 64 } = options instanceof AbortSignal ? ({ signal: options } as RunJobOptions) : options;
  validate(request);
  if (signal?.aborted) return { stdout: '', stderr: '', exit_code: 137, execution_time_ms: 0, status: 'cancelled' };
  const sandbox = await isolation();
  const runtime = sandbox.runtimes[request.runtime];
  if (!runtime) throw new RuntimeUnavailableError(request.runtime);

  const jobKey = randomUUID();
  let dir: string | undefined;
  let cgroup: Cgroup | undefined;
  let uid: number | undefined;
  try {
    try {
      if (runtime.unprivileged) uid = await uids.allocate(jobKey);
      dir = await mkdtemp(join(tmpdir(), 'encedeus-job-'));
      const file = join(dir, FILES[request.runtime]);
      await writeFile(file, request.code, { mode: 0o600 });
      if (uid !== undefined) {
        await chown(dir, uid, uid);
        await chown(file, uid, uid);
      }
      await chmod(dir, 0o700);
      const rlimitMemory = sandbox.memory === 'rlimit';
      const rlimitProcesses = sandbox.pids === 'rlimit';
      if (!rlimitMemory || !rlimitProcesses) {
        cgroup = await Cgroup.create(`jobs/${jobKey}`, { memoryBytes: request.memoryMb * MIB, pidsMax });
      }
      const argv = sandboxArgv({
        runtime: request.runtime,
        interpreter: runtime.path,
        file: FILES[request.runtime],
        memoryMb: request.memoryMb,
        isolateNetwork: sandbox.network === 'namespace',
        privateTmp: sandbox.tmp === 'namespace',
        privateProcesses: sandbox.processes === 'namespace',
        cgroupProcs: cgroup?.procsFiles() ?? [],
        rlimitMemory,
        // RLIMIT_NPROC counts every process of the real uid, so it bounds the job only with a uid of its own.
        rlimitProcesses: rlimitProcesses && uid !== undefined ? pidsMax : undefined,
        uid,
      });
      return await execute(argv, dir, request, cgroup, { signal, onOutput, outputCapBytes, privateTmp: sandbox.tmp === 'namespace' });
    } catch (error) {
      if (error instanceof JobSandboxError) throw error;
      throw new JobSandboxError('failed to set up the sandbox', { cause: error });
    }
  } finally {
    await cgroup?.destroy().catch(() => undefined);
    // Without a cgroup, a process that left the job's group (setsid) is found by its uid; it must
    // not live on into the next job that gets this uid.
    if (uid !== undefined && !cgroup) await killUid(uid).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    if (uid !== undefined) await uids.release(jobKey);
  }
}

async function execute(
  argv: string[],
  dir: string,
  request: JobRequest,
  cgroup: Cgroup | undefined,
  options: RunJobOptions & { privateTmp: boolean },
): Promise<JobResult> {
  const child = spawn(argv[0], argv.slice(1), {
    cwd: dir,
    detached: true,
    env: {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      // In a mount namespace /tmp is the job's own tmpfs, its folder bound at /tmp/job.
      HOME: options.privateTmp ? JOB_DIR_INSIDE : dir,
      TMPDIR: options.privateTmp ? '/tmp' : dir,
      LANG: 'C.UTF-8',
      PYTHONDONTWRITEBYTECODE: '1',
      PYTHONUNBUFFERED: '1',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (cause) => reject(new JobSandboxError(`failed to spawn ${argv[0]}`, { cause })));
  });
  const started = process.hrtime.bigint();
  const pid = child.pid!;
  let timedOut = false;
  let cancelled = false;
  const killAll = () => {
    signalGroup(pid, 'SIGKILL');
    void cgroup?.killAll();
  };

  const capBytes = options.outputCapBytes ?? MIB;
  const capture = (stream: JobStream) => {
    const output = new CappedOutput(capBytes);
    const splitter = new LineSplitter((line) => options.onOutput?.(line, stream));
    let streamed = 0;
    child[stream].on('data', (chunk: Buffer) => {
      output.push(chunk);
      const room = capBytes - streamed;
      if (!options.onOutput || room <= 0) return;
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      streamed += part.length;
      splitter.push(part);
      if (part.length < chunk.length) {
        splitter.flush();
        options.onOutput('[output truncated]', stream);
      }
    });
    child[stream].once('end', () => streamed < capBytes && splitter.flush());
    return output;
  };
  const stdout = capture('stdout');
  const stderr = capture('stderr');
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));

  // The job may exit without reading its stdin: EPIPE then is expected, not an error.
  child.stdin.on('error', () => undefined);
  child.stdin.end(request.stdin ?? '');

  const timer = setTimeout(() => {
    timedOut = true;
    killAll();
  }, request.timeoutMs);
  const onAbort = () => {
    cancelled = true;
    killAll();
  };
  // A cancel that came while the sandbox was being built (before this listener) still counts.
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal })),
  );
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  clearTimeout(timer);
  options.signal?.removeEventListener('abort', onAbort);
  // Nothing the job started may outlive it (background children, daemons).
  killAll();
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000))]);
  child.stdout.destroy();
  child.stderr.destroy();

  const exitCode = code ?? 128 + (signal ? osConstants.signals[signal] : 9);
  const oomKilled = ((await cgroup?.oomKills()) ?? 0) > 0;
  const stderrText = stderr.text();
  return {
    stdout: stdout.text(),
    stderr: stderrText,
    exit_code: exitCode,
    execution_time_ms: Math.round(elapsedMs),
    status: jobStatus({ cancelled, timedOut, oomKilled, exitCode, stderr: stderrText }),
  };
}
