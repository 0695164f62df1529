import { ApiError } from '../core/api-error';
import type { RunningCall } from '../core/realtime';
import { JobAttachment, type StartCall } from './job-attachment';

const JOB = '0b5a4b84-4a44-4a4e-9d4a-1f1a4e3c9d10';

/** A fake Realtime.call: records each call; the test feeds lines and settles the result. */
function fakeCalls() {
  const calls: { call: string; params: unknown; line: (line: string, stream?: string) => void; resolve: (d: unknown) => void; reject: (e: unknown) => void; cancelled: boolean }[] = [];
  const start: StartCall = (call, params, onLine) => {
    let resolve!: (d: unknown) => void;
    let reject!: (e: unknown) => void;
    const result = new Promise<unknown>((res, rej) => ((resolve = res), (reject = rej)));
    const entry = { call, params, line: onLine, resolve, reject, cancelled: false };
    calls.push(entry);
    const running: RunningCall<unknown> = { id: `c${calls.length}`, result, cancel: () => (entry.cancelled = true) };
    return running;
  };
  return { calls, start };
}

describe('JobAttachment', () => {
  it('shows the replayed and the live lines in order, then resolves with the job outcome', async () => {
    const { calls, start } = fakeCalls();
    const live = new JobAttachment(start);
    const ended = live.attach(JOB);

    expect(calls[0]).toMatchObject({ call: 'jobs.attach', params: { job_id: JOB } });
    expect(live.attached()).toBe(true);
    expect(live.active).toBe(true);
    calls[0].line('[3 earlier lines of output not kept here]', 'notice');
    calls[0].line('line-4', 'stdout');
    calls[0].line('oops', 'stderr');
    calls[0].line('line-5');
    calls[0].resolve({ job_id: JOB, status: 'succeeded', stdout: 'line-4\nline-5\n', stderr: 'oops\n', exit_code: 0, execution_time_ms: 900 });

    expect(await ended).toMatchObject({ status: 'succeeded', exit_code: 0, stdout: 'line-4\nline-5\n' });
    expect(live.lines()).toEqual([
      { stream: 'notice', line: '[3 earlier lines of output not kept here]' },
      { stream: 'stdout', line: 'line-4' },
      { stream: 'stderr', line: 'oops' },
      { stream: 'stdout', line: 'line-5' },
    ]);
    expect([live.attached(), live.active]).toEqual([false, false]);
  });

  it('resolves with the outcome of a job that failed (the call fails carrying it)', async () => {
    const { calls, start } = fakeCalls();
    const live = new JobAttachment(start);
    const ended = live.attach(JOB);
    calls[0].reject(new ApiError('The job failed (exit code 2)', 'CALL_FAILED', 0, undefined, { job_id: JOB, status: 'failed', stdout: '', stderr: 'x\n', exit_code: 2, execution_time_ms: 5 }));

    expect(await ended).toMatchObject({ status: 'failed', exit_code: 2 });
  });

  it('resolves null when the attachment ends before the job (disconnect, gateway timeout): the page polls', async () => {
    const { calls, start } = fakeCalls();
    const live = new JobAttachment(start);
    const lost = live.attach(JOB);
    calls[0].reject(new ApiError('The live channel disconnected', 'DISCONNECTED', 0));
    expect(await lost).toBeNull();

    const timedOut = live.attach(JOB);
    calls[1].reject(new ApiError(`Job ${JOB} did not finish in time`, 'TIMEOUT', 0, undefined, { job_id: JOB }));
    expect(await timedOut).toBeNull();
    expect(live.active).toBe(false);
  });

  it('rejects when the caller may not see the job', async () => {
    const { calls, start } = fakeCalls();
    const live = new JobAttachment(start);
    const refused = live.attach(JOB);
    calls[0].reject(new ApiError(`Job ${JOB} was not found`, 'NOT_FOUND', 0));

    await expect(refused).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(live.lines()).toEqual([]);
  });

  it('attaching again replaces the lines with the new replay; lines of the old call are ignored', async () => {
    const { calls, start } = fakeCalls();
    const live = new JobAttachment(start);
    void live.attach(JOB);
    calls[0].line('line-1');
    const again = live.attach(JOB);

    expect(calls[0].cancelled).toBe(true);
    calls[0].line('late line of the old call');
    calls[1].line('line-1');
    calls[1].line('line-2');
    expect(live.lines().map((l) => l.line)).toEqual(['line-1', 'line-2']);
    calls[1].resolve({ job_id: JOB, status: 'succeeded', stdout: 'line-1\nline-2\n', stderr: '', exit_code: 0, execution_time_ms: 1 });
    await again;
  });

  it('detach cancels the call (the job runs on) and stops showing lines', () => {
    const { calls, start } = fakeCalls();
    const live = new JobAttachment(start);
    void live.attach(JOB);
    live.detach();
    calls[0].line('after detach');

    expect(calls[0].cancelled).toBe(true);
    expect(live.lines()).toEqual([]);
    expect([live.attached(), live.active]).toEqual([false, false]);
  });
});
