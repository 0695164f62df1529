import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cgroup } from '../drivers/cgroups';
import { CappedOutput, LineSplitter } from '../drivers/console-lines';
import { signalGroup } from '../drivers/proc';
import { InvalidJobError, JobSandboxError, RuntimeUnavailableError } from './job-errors';
import { dropArgs, isolation, JOB_RUNTIMES, UNPRIVILEGED_ID, type JobRuntime } from './job-sandbox';

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
}

const FILES: Record<JobRuntime, string> = { python3: 'main.py', node: 'main.js', bash: 'main.sh' };

// Out-of-memory messages of the runtimes when RLIMIT_AS (or V8's heap limit) makes an allocation fail
// instead of the OOM killer ending the process.
const OUT_OF_MEMORY = /MemoryError|JavaScript heap out of memory|Cannot allocate memory|xmalloc: cannot allocate|xrealloc: cannot allocate|out of memory/i;

// Joins every cgroup given before `--`, then becomes the rest of the command line; joining first
// means no code of the job ever runs outside its limits.
const JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

/** Inputs of the sandbox command line. */
export interface SandboxPlan {
  /** Runtime. */
  runtime: JobRuntime;
  /** Interpreter binary. */
  interpreter: string;
  /** Program file. */
  file: string;
  /** Memory limit in MiB. */
  memoryMb: number;
  /** Wrap in an empty network namespace. */
  isolateNetwork: boolean;
  /** cgroup.procs files to join; empty when memory is rlimit-limited. */
  cgroupProcs: string[];
  /** Drop to uid/gid 65534. */
  dropPrivileges: boolean;
}

/** The argv that runs a job: join cgroups → new network namespace → RLIMIT_AS (no cgroup) → drop root → interpreter. */
export function sandboxArgv(plan: SandboxPlan): string[] {
  const argv = ['/bin/sh', '-c', JOIN_CGROUPS, 'encedeus-job', ...plan.cgroupProcs, '--'];
  if (plan.isolateNetwork) argv.push('unshare', '-n', '--');
  if (plan.cgroupProcs.length === 0) {
    // V8 reserves gigabytes of address space up front, so node gets a generous RLIMIT_AS and the heap flag does the limiting.
    const asBytes = plan.runtime === 'node' ? (plan.memoryMb + 4096) * MIB : plan.memoryMb * MIB;
    argv.push('prlimit', `--as=${asBytes}`, '--');
  }
  if (plan.dropPrivileges) argv.push('setpriv', ...dropArgs(), '--');
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
  const { signal, onOutput, outputCapBytes } = options instanceof AbortSignal ? { signal: options } as RunJobOptions : options;
  validate(request);
  if (signal?.aborted) return { stdout: '', stderr: '', exit_code: 137, execution_time_ms: 0, status: 'cancelled' };
  const sandbox = await isolation();
  const runtime = sandbox.runtimes[request.runtime];
  if (!runtime) throw new RuntimeUnavailableError(request.runtime);

  let dir: string | undefined;
  let cgroup: Cgroup | undefined;
  try {
    try {
      dir = await mkdtemp(join(tmpdir(), 'encedeus-job-'));
      const file = join(dir, FILES[request.runtime]);
      await writeFile(file, request.code);
      if (runtime.unprivileged) {
        await chown(dir, UNPRIVILEGED_ID, UNPRIVILEGED_ID);
        await chown(file, UNPRIVILEGED_ID, UNPRIVILEGED_ID);
      }
      await chmod(dir, 0o700);
      if (sandbox.memory !== 'rlimit') cgroup = await Cgroup.create(`jobs/${randomUUID()}`, { memoryBytes: request.memoryMb * MIB });
      const argv = sandboxArgv({
        runtime: request.runtime,
        interpreter: runtime.path,
        file,
        memoryMb: request.memoryMb,
        isolateNetwork: sandbox.network === 'namespace',
        cgroupProcs: cgroup?.procsFiles() ?? [],
        dropPrivileges: runtime.unprivileged,
      });
      return await execute(argv, dir, request, cgroup, { signal, onOutput, outputCapBytes });
    } catch (error) {
      if (error instanceof JobSandboxError) throw error;
      throw new JobSandboxError('failed to set up the sandbox', { cause: error });
    }
  } finally {
    await cgroup?.destroy().catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function execute(
  argv: string[],
  dir: string,
  request: JobRequest,
  cgroup: Cgroup | undefined,
  options: RunJobOptions,
): Promise<JobResult> {
  const child = spawn(argv[0], argv.slice(1), {
    cwd: dir,
    detached: true,
    env: {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: dir,
      TMPDIR: dir,
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
  options.signal?.addEventListener('abort', onAbort, { once: true });

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
