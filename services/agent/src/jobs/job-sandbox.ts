import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cgroupSupport } from '../drivers/cgroups';

const execFileAsync = promisify(execFile);

/** Languages a job can be written in. */
export type JobRuntime = 'python3' | 'node' | 'bash';

/** All runtimes, in the order they are probed. */
export const JOB_RUNTIMES: readonly JobRuntime[] = ['python3', 'node', 'bash'];

/** Uid/gid a job drops to when the agent runs as root ("nobody"). */
export const UNPRIVILEGED_ID = 65534;

/** A runtime found on this node. */
export interface RuntimeInfo {
  /** Resolved interpreter binary (shims such as pyenv's are resolved away: they cost startup time and memory). */
  path: string;
  /** Whether jobs of this runtime run as uid/gid 65534; false when the interpreter is not usable by that user. */
  unprivileged: boolean;
}

/** How jobs are isolated on this node; detected once per agent process. */
export interface JobIsolation {
  /** 'namespace': each job gets an empty network namespace (not even loopback is up); 'none': the host's network. */
  network: 'namespace' | 'none';
  /** How memoryMb is enforced: a memory cgroup (OOM kill) or RLIMIT_AS (allocation failures). */
  memory: 'cgroup-v1' | 'cgroup-v2' | 'rlimit';
  /** Runtimes present here; a missing one makes runJob fail with RuntimeUnavailableError. */
  runtimes: Partial<Record<JobRuntime, RuntimeInfo>>;
  /** Why some isolation is missing. */
  notes: string[];
}

let detected: Promise<JobIsolation> | undefined;

/** Detects, once, what isolation jobs get here (network namespace, memory cgroup, runtimes, dropping root). */
export function isolation(): Promise<JobIsolation> {
  detected ??= detect();
  return detected;
}

async function succeeds(file: string, args: string[]): Promise<boolean> {
  try {
    await execFileAsync(file, args, { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

async function resolveRuntime(runtime: JobRuntime): Promise<string | undefined> {
  try {
    if (runtime === 'node') return process.execPath;
    if (runtime === 'python3') {
      const { stdout } = await execFileAsync('python3', ['-c', 'import sys; print(sys.executable)'], { timeout: 10_000 });
      return stdout.trim() || undefined;
    }
    const { stdout } = await execFileAsync('sh', ['-c', 'command -v bash'], { timeout: 10_000 });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

async function detect(): Promise<JobIsolation> {
  const notes: string[] = [];
  const root = process.getuid?.() === 0;
  const network = root && (await succeeds('unshare', ['-n', 'true'])) ? 'namespace' : 'none';
  if (network === 'none') notes.push('unshare -n does not work here (needs root and util-linux): jobs can reach the network');
  const cgroups = await cgroupSupport();
  const memory = cgroups.memory && cgroups.version !== 'none' ? (`cgroup-${cgroups.version}` as const) : 'rlimit';
  if (memory === 'rlimit') notes.push('no writable memory cgroup: memory is limited with RLIMIT_AS');
  const canDrop = root && (await succeeds('setpriv', ['--version']));
  if (!root) notes.push('agent is not root: jobs run as the agent user');
  const runtimes: Partial<Record<JobRuntime, RuntimeInfo>> = {};
  for (const runtime of JOB_RUNTIMES) {
    const path = await resolveRuntime(runtime);
    if (!path) {
      notes.push(`${runtime} is not installed`);
      continue;
    }
    const unprivileged = canDrop && (await succeeds('setpriv', [...dropArgs(), '--', path, '--version']));
    if (root && !unprivileged) notes.push(`${runtime} (${path}) is not usable by uid ${UNPRIVILEGED_ID}: its jobs run as root`);
    runtimes[runtime] = { path, unprivileged };
  }
  return { network, memory, runtimes, notes };
}

/** setpriv arguments that drop to uid/gid 65534 with no supplementary groups (capabilities go with uid 0). */
export function dropArgs(): string[] {
  return [`--reuid=${UNPRIVILEGED_ID}`, `--regid=${UNPRIVILEGED_ID}`, '--clear-groups'];
}
