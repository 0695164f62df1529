import { JobCancelled, JobCreated, JobFinished, JobStarted } from '@encedeus/contracts';
import { NO_STREAM } from '@encedeus/messaging';
import { decideFinished, decideStarted, evolveJob, initialJob, jobDecider } from './job.decider';

const created = { type: JobCreated.type, data: { node_id: 'n1', owner_id: 'u1' } };
const started = { type: JobStarted.type, data: {} };
const result = { status: 'succeeded' as const, stdout: '', stderr: '', exit_code: 0, execution_time_ms: 5 };

describe('decideFinished', () => {
  it('records output holding NUL bytes with each NUL as U+FFFD', () => {
    const state = [created, started].reduce(evolveJob, initialJob());

    const events = decideFinished(state, { ...result, stdout: 'a\u0000b', stderr: 'c\u0000' });

    expect(events.map((e) => e.data)).toEqual([expect.objectContaining({ stdout: 'a\uFFFDb', stderr: 'c\uFFFD' })]);
  });

  it('mends a surrogate pair cut by the 64 KiB cap and marks the output truncated', () => {
    const state = [created, started].reduce(evolveJob, initialJob());

    const events = decideFinished(state, { ...result, stdout: 'x'.repeat(65535) + '🎮🎮' });

    expect(events.map((e) => e.data)).toEqual([expect.objectContaining({ stdout: 'x'.repeat(65535) + '\uFFFD', truncated: true })]);
  });
});

describe('decideStarted', () => {
  it('starts a queued job', () => {
    expect(decideStarted([created].reduce(evolveJob, initialJob())).map((e) => e.type)).toEqual([JobStarted.type]);
  });

  it('does not start a job cancelled while queued', () => {
    const state = [created, { type: JobCancelled.type, data: {} }].reduce(evolveJob, initialJob());

    expect(decideStarted(state)).toEqual([]);
  });
});

describe('jobDecider', () => {
  const data = { runtime: 'node' as const, code_sha256: 'h', code_bytes: 1, timeout_ms: 1000, memory_mb: 64, node_id: 'n1', owner_id: 'u1' };
  const decide = (events: { type: string; data: unknown }[], cmd: Parameters<typeof jobDecider.decide>[0]) => () => jobDecider.decide(cmd, events.reduce(evolveJob, initialJob()), NO_STREAM);
  const finished = { type: JobFinished.type, data: { ...result } };

  it('creates a job once (a retried run with the same idempotency key runs nothing again)', () => {
    expect(decide([], { type: 'create', data })().map((e) => e.type)).toEqual([JobCreated.type]);
    expect(decide([{ type: JobCreated.type, data }], { type: 'create', data })()).toEqual([]);
  });

  it('cancels a running job once, refuses a finished one and answers 404 for an unknown one', () => {
    expect(decide([created, started], { type: 'cancel', id: 'j1' })().map((e) => e.type)).toEqual([JobCancelled.type]);
    expect(decide([created, started, { type: JobCancelled.type, data: {} }], { type: 'cancel', id: 'j1' })()).toEqual([]);
    expect(decide([created, started, finished], { type: 'cancel', id: 'j1' })).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(decide([], { type: 'cancel', id: 'j1' })).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });

  it('ends a cancelled job that failed as cancelled, and finishes a job only once', () => {
    const events = decide([created, started, { type: JobCancelled.type, data: {} }], { type: 'finish', result: { ...result, status: 'killed' } })();

    expect(events.map((e) => (e.data as { status: string }).status)).toEqual(['cancelled']);
    expect(decide([created, started, finished], { type: 'finish', result })()).toEqual([]);
  });
});
