import { ConflictError, JobCancelled, JobCreated, JobFinished, JobStarted, NotFoundError, event, type CloudEvent, type JobStatus, type NewEvent } from '@encedeus/contracts';

export interface JobState {
  exists: boolean;
  status: JobStatus;
  nodeId: string;
  ownerId: string;
  cancelled: boolean;
}

export const initialJob = (): JobState => ({ exists: false, status: 'queued', nodeId: '', ownerId: '', cancelled: false });

export function evolveJob(state: JobState, e: Pick<CloudEvent, 'type' | 'data'>): JobState {
  const d = e.data as Record<string, any>;
  switch (e.type) {
    case JobCreated.type:
      return { ...state, exists: true, status: 'queued', nodeId: d.node_id, ownerId: d.owner_id };
    case JobStarted.type:
      return { ...state, status: 'running' };
    case JobCancelled.type:
      return { ...state, cancelled: true };
    case JobFinished.type:
      return { ...state, status: d.status };
    default:
      return state;
  }
}

export const jobReducer = { name: 'job-v1', initialState: initialJob, evolve: evolveJob };

const finished = (s: JobState) => !['queued', 'running'].includes(s.status);

export function decideCancel(state: JobState, id: string): NewEvent[] {
  if (!state.exists) throw new NotFoundError('Job', id);
  if (finished(state)) throw new ConflictError(`Job ${id} already finished (${state.status})`, { status: state.status });
  return state.cancelled ? [] : [event(JobCancelled, {})];
}

export function decideStarted(state: JobState): NewEvent[] {
  return state.exists && state.status === 'queued' ? [event(JobStarted, {})] : [];
}

export function decideFinished(state: JobState, result: Omit<import('@encedeus/contracts').EventData<typeof JobFinished>, 'truncated'>): NewEvent[] {
  if (!state.exists || finished(state)) return [];
  const cap = (text: string) => (text.length > 65536 ? text.slice(0, 65536) : text);
  const truncated = result.stdout.length > 65536 || result.stderr.length > 65536;
  const status = state.cancelled && result.status !== 'succeeded' ? 'cancelled' : result.status;
  return [event(JobFinished, { ...result, status, stdout: cap(result.stdout), stderr: cap(result.stderr), ...(truncated ? { truncated } : {}) })];
}
