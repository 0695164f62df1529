import { JSONCodec, type NatsConnection } from 'nats';
import { STREAMS, Subjects, type CloudEvent, type EventData, type JobFinished } from '@encedeus/contracts';
import { ConsumeLoop } from '@encedeus/messaging';
import type { CallOutcome } from './call';

export type Finished = EventData<typeof JobFinished>;

const codec = JSONCodec<CloudEvent>();
/** After an abort, how long to still wait for job.finished (a cancel the agent is carrying out). */
const CANCEL_WAIT_MS = 10_000;

/**
 * Reads `evt.job.<id>` from its first event (so a job that ended before we looked is seen) until
 * job.finished; undefined after `timeoutMs`, or `afterAbortMs` after `signal` aborts.
 */
export async function waitJobFinished(nc: NatsConnection, jobId: string, signal: AbortSignal, timeoutMs: number, afterAbortMs = CANCEL_WAIT_MS): Promise<Finished | undefined> {
  let done!: (finished: Finished | undefined) => void;
  const outcome = new Promise<Finished | undefined>((resolve) => (done = resolve));
  const follower = ConsumeLoop.ordered(nc, {
    name: 'realtime',
    stream: STREAMS.events,
    filterSubject: Subjects.event('job', jobId),
    from: { sequence: 1 },
    handle: (m) => {
      let event: CloudEvent;
      try {
        event = codec.decode(m.data);
      } catch {
        return; // not an event: nothing of ours
      }
      if (event.type === 'job.finished') done(event.data as Finished);
    },
  });
  let timer = setTimeout(() => done(undefined), timeoutMs);
  const onAbort = () => {
    clearTimeout(timer);
    timer = setTimeout(() => done(undefined), afterAbortMs);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  // Not awaited: the timer bounds the wait even if the consumer cannot be opened.
  void follower.start();
  try {
    return await outcome;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    await follower.stop();
  }
}

/** The call result of a finished job: `{ job_id, stdout, stderr, status, exit_code, execution_time_ms, truncated? }`. */
export function finishedOutcome(jobId: string, finished: Finished): CallOutcome {
  const data = {
    job_id: jobId,
    stdout: finished.stdout,
    stderr: finished.stderr,
    status: finished.status,
    exit_code: finished.exit_code,
    execution_time_ms: finished.execution_time_ms,
    ...(finished.truncated ? { truncated: true } : {}),
  };
  if (finished.status === 'succeeded') return { success: true, data };
  const exit = finished.exit_code === null ? '' : ` (exit code ${finished.exit_code})`;
  const code = finished.status === 'cancelled' ? 'CANCELLED' : finished.status === 'timeout' ? 'TIMEOUT' : undefined;
  return { success: false, message: `The job ${finished.status}${exit}`, ...(code ? { code } : {}), data };
}
