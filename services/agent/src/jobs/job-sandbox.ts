import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cgroupSupport } from '../drivers/cgroups';
import { dropToUid, sandboxSupport, succeeds } from '../sandbox/sandbox-support';

const execFileAsync = promisify(execFile);

/** Languages a job can be written in. */
export type JobRuntime = 'python3' | 'node' | 'bash';

/** All runtimes, in the order they are probed. */
export const JOB_RUNTIMES: readonly JobRuntime[] = ['python3', 'node', 'bash'];

/** Uid the runtimes are probed with: any unprivileged uid with no groups stands for a job's own uid. */
export const PROBE_UID = 65534;

/** A runtime found on this node. */
export interface RuntimeInfo {
  /** Interpreter binary, usable by an unprivileged uid when the agent is root (shims such as pyenv's are resolved away: they cost startup time and memory). */
  path: string;
  /** Whether jobs of this runtime run as their own unprivileged uid (false only when the agent is not root). */
  unprivileged: boolean;
}

/** How jobs are isolated on this node; detected once per agent process (reported in the node's capabilities). */
export interface JobIsolation {
  /** 'namespace': each job gets an empty network namespace (not even loopback is up); 'none': the host's network. */
  network: 'namespace' | 'none';
  /** How memoryMb is enforced: a memory cgroup (OOM kill) or RLIMIT_AS (allocation failures). */
  memory: 'cgroup-v1' | 'cgroup-v2' | 'rlimit';
  /** 'per-job-uid': each job runs as its own uid from the job range, released after; 'agent-user': as the agent (not root). */
  user: 'per-job-uid' | 'agent-user';
  /** 'namespace': a private tmpfs on /tmp in a mount namespace; 'tmpdir': TMPDIR is the job's own 0700 folder. */
  tmp: 'namespace' | 'tmpdir';
  /** 'namespace': the job sees and signals only its own processes; 'host': uid separation only. */
  processes: 'namespace' | 'host';
  /** How the number of processes/threads is bounded: the pids cgroup, or RLIMIT_NPROC of the job's uid. */
  pids: 'cgroup-v1' | 'cgroup-v2' | 'rlimit';
  /** Runtimes present here; a missing one makes runJob fail with RuntimeUnavailableError. */
  runtimes: Partial<Record<JobRuntime, RuntimeInfo>>;
  /** Why some isolation is missing. */
  notes: string[];
}

let detected: Promise<JobIsolation> | undefined;

/** Detects, once, what isolation jobs get here (namespaces, cgroups, runtimes, dropping root). */
export function isolation(): Promise<JobIsolation> {
  detected ??= detect();
  return detected;
}

/** Interpreter candidates, best first; a per-user install (pyenv under /root) comes before the system one but is unusable by a job's uid. */
async function runtimeCandidates(runtime: JobRuntime): Promise<string[]> {
  const found: string[] = [];
  try {
    if (runtime === 'node') found.push(process.execPath, '/usr/bin/node', '/usr/local/bin/node');
    else if (runtime === 'python3') {
      const { stdout } = await execFileAsync('python3', ['-c', 'import sys; print(sys.executable)'], { timeout: 10_000 });
      found.push(stdout.trim(), '/usr/bin/python3', '/usr/local/bin/python3');
    } else {
      const { stdout } = await execFileAsync('sh', ['-c', 'command -v bash'], { timeout: 10_000 });
      found.push(stdout.trim(), '/bin/bash', '/usr/bin/bash');
    }
  } catch {
    // not on PATH; the fixed locations below may still have it
  }
  return [...new Set(found.filter(Boolean))];
}

async function detect(): Promise<JobIsolation> {
  const support = await sandboxSupport();
  const notes = [...support.notes];
  const network = support.networkNamespace ? 'namespace' : 'none';
  if (network === 'none') notes.push('unshare -n does not work here (needs root and util-linux): jobs can reach the network');
  const cgroups = await cgroupSupport();
  const memory = cgroups.memory && cgroups.version !== 'none' ? (`cgroup-${cgroups.version}` as const) : 'rlimit';
  if (memory === 'rlimit') notes.push('no writable memory cgroup: memory is limited with RLIMIT_AS');
  const pids = cgroups.pids && cgroups.version !== 'none' ? (`cgroup-${cgroups.version}` as const) : 'rlimit';
  if (pids === 'rlimit') notes.push("no writable pids cgroup: processes are limited with RLIMIT_NPROC of the job's uid");
  const drop = support.root && support.setpriv;
  const runtimes: Partial<Record<JobRuntime, RuntimeInfo>> = {};
  for (const runtime of JOB_RUNTIMES) {
    const candidates = await runtimeCandidates(runtime);
    let path: string | undefined;
    for (const candidate of candidates) {
      const usable = drop ? await succeeds('setpriv', [...dropToUid(PROBE_UID).slice(1), candidate, '--version']) : await succeeds(candidate, ['--version']);
      if (usable) {
        path = candidate;
        break;
      }
    }
    // A job never runs as root: a runtime only root can execute is not offered.
    if (!path) notes.push(candidates.length ? `${runtime} (${candidates.join(', ')}) is not usable by an unprivileged uid` : `${runtime} is not installed`);
    else runtimes[runtime] = { path, unprivileged: drop };
  }
  return {
    network,
    memory,
    user: drop ? 'per-job-uid' : 'agent-user',
    tmp: support.mountNamespace ? 'namespace' : 'tmpdir',
    processes: support.pidNamespace ? 'namespace' : 'host',
    pids,
    runtimes,
    notes,
  };
}
