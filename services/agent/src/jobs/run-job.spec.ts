import { jobStatus, sandboxArgv } from './run-job';

describe('sandboxArgv', () => {
  const plan = {
    runtime: 'python3' as const,
    interpreter: '/usr/bin/python3',
    file: 'main.py',
    memoryMb: 128,
    isolateNetwork: true,
    privateTmp: true,
    privateProcesses: true,
    cgroupProcs: ['/cg/memory/job/cgroup.procs'],
    rlimitMemory: false,
    uid: 250001,
  };

  it('joins cgroups, enters namespaces with a private /tmp and drops to the job uid before the interpreter', () => {
    const argv = sandboxArgv(plan);

    expect(argv.slice(3)).toEqual([
      'encedeus-job', '/cg/memory/job/cgroup.procs', '--',
      'unshare', '-m', '--propagation', 'private', '-p', '--fork', '--kill-child', '--mount-proc', '-n', '--',
      '/bin/sh', '-c', expect.stringContaining('mount -t tmpfs'), 'encedeus-tmp', '64',
      'setpriv', '--reuid=250001', '--regid=250001', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--',
      '/usr/bin/python3', '-u', '-B', 'main.py',
    ]);
  });

  it('falls back to a network namespace alone and RLIMIT_NPROC without namespaces and a pids cgroup', () => {
    const argv = sandboxArgv({ ...plan, privateTmp: false, privateProcesses: false, rlimitProcesses: 64 });

    expect(argv.slice(6, 14)).toEqual(['unshare', '-n', '--', 'prlimit', '--nproc=64', '--', 'setpriv', '--reuid=250001']);
  });

  it('limits address space without a memory cgroup, generously for node', () => {
    const bare = { ...plan, isolateNetwork: false, privateTmp: false, privateProcesses: false, cgroupProcs: [], rlimitMemory: true, uid: undefined };

    const python = sandboxArgv(bare);
    const node = sandboxArgv({ ...bare, runtime: 'node' });

    expect(python).toContain(`--as=${128 * 1024 * 1024}`);
    expect(node).toContain(`--as=${(128 + 4096) * 1024 * 1024}`);
    expect(node).toContain('--max-old-space-size=96');
    expect(node).not.toContain('setpriv');
  });
});

describe('jobStatus', () => {
  const base = { cancelled: false, timedOut: false, oomKilled: false, exitCode: 0, stderr: '' };

  it('maps exit status to succeeded or failed', () => {
    expect(jobStatus(base)).toBe('succeeded');
    expect(jobStatus({ ...base, exitCode: 1 })).toBe('failed');
  });

  it('calls a job ended by the memory limit killed, by OOM kill or out-of-memory error', () => {
    expect(jobStatus({ ...base, exitCode: 137, oomKilled: true })).toBe('killed');
    expect(jobStatus({ ...base, exitCode: 1, stderr: 'Traceback…\nMemoryError\n' })).toBe('killed');
    expect(jobStatus({ ...base, exitCode: 134, stderr: 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory' })).toBe('killed');
  });

  it('prefers cancel over timeout over memory', () => {
    expect(jobStatus({ ...base, cancelled: true, timedOut: true, oomKilled: true })).toBe('cancelled');
    expect(jobStatus({ ...base, timedOut: true, oomKilled: true })).toBe('timeout');
  });
});
