import { jobStatus, sandboxArgv } from './run-job';

describe('sandboxArgv', () => {
  it('joins cgroups, isolates the network and drops root before the interpreter', () => {
    const argv = sandboxArgv({
      runtime: 'python3',
      interpreter: '/usr/bin/python3',
      file: '/tmp/j/main.py',
      memoryMb: 128,
      isolateNetwork: true,
      cgroupProcs: ['/cg/memory/job/cgroup.procs'],
      dropPrivileges: true,
    });

    expect(argv.slice(3)).toEqual([
      'encedeus-job', '/cg/memory/job/cgroup.procs', '--',
      'unshare', '-n', '--',
      'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--',
      '/usr/bin/python3', '-u', '-B', '/tmp/j/main.py',
    ]);
  });

  it('limits address space without a cgroup, generously for node', () => {
    const plan = { interpreter: 'x', file: 'f', memoryMb: 128, isolateNetwork: false, cgroupProcs: [], dropPrivileges: false };

    const python = sandboxArgv({ ...plan, runtime: 'python3' });
    const node = sandboxArgv({ ...plan, runtime: 'node' });

    expect(python).toContain(`--as=${128 * 1024 * 1024}`);
    expect(node).toContain(`--as=${(128 + 4096) * 1024 * 1024}`);
    expect(node).toContain('--max-old-space-size=96');
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
