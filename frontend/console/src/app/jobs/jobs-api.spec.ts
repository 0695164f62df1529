import { isJob, jobFromCall } from './jobs-api';

describe('jobFromCall', () => {
  const outcome = { job_id: 'j1', status: 'succeeded' as const, exit_code: 0, execution_time_ms: 40 };

  it('builds stdout and stderr from the streamed lines (the call result carries no output)', () => {
    const job = jobFromCall(outcome, [
      { stream: 'stdout', line: 'hello' },
      { stream: 'stderr', line: 'warn' },
      { stream: 'stdout', line: 'world' },
    ], 'python3');
    expect(job).toEqual({ id: 'j1', runtime: 'python3', status: 'succeeded', stdout: 'hello\nworld\n', stderr: 'warn\n', exit_code: 0, execution_time_ms: 40 });
  });

  it('prefers output and id the answer does carry', () => {
    const job = jobFromCall({ ...outcome, id: 'j2', stdout: 'from rest' }, [{ stream: 'stdout', line: 'ignored' }], 'bash');
    expect(job.id).toBe('j2');
    expect(job.stdout).toBe('from rest');
  });

  it('recognises a failed call outcome as a job', () => {
    expect(isJob({ job_id: 'j', status: 'timeout', exit_code: null, execution_time_ms: 10_000 })).toBe(true);
    expect(isJob({ code: 'TIMEOUT' })).toBe(false);
  });
});
