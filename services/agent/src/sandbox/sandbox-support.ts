import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** What the kernel and the agent's privileges allow for separating servers and jobs; detected once. */
export interface SandboxSupport {
  /** The agent runs as root, so it can give each server and job its own uid. */
  root: boolean;
  /** `setpriv` (util-linux) is present to drop to that uid with no groups and no capabilities. */
  setpriv: boolean;
  /** `unshare -m` works and a tmpfs can be mounted on /tmp inside: a private /tmp. */
  mountNamespace: boolean;
  /** `unshare -p --fork --mount-proc` works: a job sees and signals only its own processes. */
  pidNamespace: boolean;
  /** `unshare -n` works: an empty network namespace. */
  networkNamespace: boolean;
  /** Why something is missing. */
  notes: string[];
}

/** True when `file args…` exits 0 within 10 s: how the agent probes what this machine lets it do. */
export async function succeeds(file: string, args: string[]): Promise<boolean> {
  try {
    await execFileAsync(file, args, { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

let detected: Promise<SandboxSupport> | undefined;

/** Detects, once per agent process, which separations work here. */
export function sandboxSupport(): Promise<SandboxSupport> {
  detected ??= (async () => {
    const notes: string[] = [];
    const root = process.getuid?.() === 0;
    if (!root) notes.push('agent is not root: servers and jobs run as the agent user, with no uid separation');
    const setpriv = root && (await succeeds('setpriv', ['--version']));
    if (root && !setpriv) notes.push('setpriv (util-linux) is missing: servers and jobs cannot drop root');
    const mountNamespace = root && (await succeeds('unshare', ['-m', '--propagation', 'private', '--', 'mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', '/tmp']));
    if (root && !mountNamespace) notes.push('unshare -m does not work here: /tmp is shared (jobs get a private TMPDIR, protected by their uid)');
    const pidNamespace = mountNamespace && (await succeeds('unshare', ['-m', '--propagation', 'private', '-p', '--fork', '--kill-child', '--mount-proc', 'true']));
    if (mountNamespace && !pidNamespace) notes.push('unshare -p does not work here: jobs see the host process list');
    const networkNamespace = root && (await succeeds('unshare', ['-n', 'true']));
    return { root, setpriv, mountNamespace, pidNamespace, networkNamespace, notes };
  })();
  return detected;
}

/** setpriv arguments that become `uid` (gid = uid) with no supplementary groups, capabilities or way back. */
export function dropToUid(uid: number): string[] {
  return ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--'];
}
