import { ConflictError, JobCancelled, JobCreated, JobFinished, JobStarted, NotFoundError, event, toSafeText, type CloudEvent, type EventData, type JobStatus, type NewEvent } from '@encedeus/contracts';
import type { Decider } from '@encedeus/messaging';

/** The job aggregate, folded from `evt.job.<id>`: enough to answer with its JobView. */
export interface JobState {
  exists: boolean;
  status: JobStatus;
  runtime: string;
  nodeId: string;
  ownerId: string;
  cancelled: boolean;
  stdout: string;
  stderr: string;
  exitCode: number | null;
  executionTimeMs: number | null;
  createdAt: string | null;
  finishedAt: string | null;
}

export const initialJob = (): JobState => ({
  exists: false,
  status: 'queued',
  runtime: '',
  nodeId: '',
  ownerId: '',
  cancelled: false,
  stdout: '',
  stderr: '',
  exitCode: null,
  executionTimeMs: null,
  createdAt: null,
  finishedAt: null,
});

export function evolveJob(state: JobState, e: Pick<CloudEvent, 'type' | 'data'> & { time?: string }): JobState {
  const d = e.data as Record<string, any>;
  switch (e.type) {
    case JobCreated.type:
      return { ...state, exists: true, status: 'queued', runtime: d.runtime, nodeId: d.node_id, ownerId: d.owner_id, createdAt: e.time ?? null };
    case JobStarted.type:
      return state.status === 'queued' ? { ...state, status: 'running' } : state;
    case JobCancelled.type:
      return { ...state, cancelled: true };
    case JobFinished.type:
      return { ...state, status: d.status, stdout: d.stdout, stderr: d.stderr, exitCode: d.exit_code, executionTimeMs: d.execution_time_ms, finishedAt: e.time ?? null };
    default:
      return state;
  }
}

const finished = (s: JobState) => !['queued', 'running'].includes(s.status);

export function decideCancel(state: JobState, id: string): NewEvent[] {
  if (!state.exists) throw new NotFoundError('Job', id);
  if (finished(state)) throw new ConflictError(`Job ${id} already finished (${state.status})`, { status: state.status });
  return state.cancelled ? [] : [event(JobCancelled, {})];
}

export function decideStarted(state: JobState): NewEvent[] {
  return state.exists && state.status === 'queued' && !state.cancelled ? [event(JobStarted, {})] : [];
}

export type JobResult = Omit<EventData<typeof JobFinished>, 'truncated'>;

export function decideFinished(state: JobState, result: JobResult): NewEvent[] {
  if (!state.exists || finished(state)) return [];
  // Output is what the job printed: NUL bytes, or a surrogate pair split by the cap, become U+FFFD (an event holds only safe text).
  const cap = (text: string) => toSafeText(text.length > 65536 ? text.slice(0, 65536) : text);
  const truncated = result.stdout.length > 65536 || result.stderr.length > 65536;
  const status = state.cancelled && result.status !== 'succeeded' ? 'cancelled' : result.status;
  return [event(JobFinished, { ...result, status, stdout: cap(result.stdout), stderr: cap(result.stderr), ...(truncated ? { truncated } : {}) })];
}

export type JobCommand =
  | { type: 'create'; data: EventData<typeof JobCreated> }
  | { type: 'start' }
  | { type: 'cancel'; id: string }
  | { type: 'finish'; result: JobResult };

/** The job decider (see JobCommand). */
export const jobDecider: Decider<JobState, JobCommand> = {
  name: 'job-v2',
  initialState: initialJob,
  evolve: evolveJob,
  decide(cmd: JobCommand, state: JobState): NewEvent[] {
    switch (cmd.type) {
      case 'create':
        return state.exists ? [] : [event(JobCreated, cmd.data)];
      case 'start':
        return decideStarted(state);
      case 'cancel':
        return decideCancel(state, cmd.id);
      case 'finish':
        return decideFinished(state, cmd.result);
    }
  },
};
