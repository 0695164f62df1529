import {
  ConflictError,
  event,
  NotFoundError,
  ServerCrashed,
  ServerCreated,
  ServerDeleted,
  ServerInstalled,
  ServerInstallStarted,
  ServerKilled,
  ServerRestarted,
  ServerRunning,
  ServerStarting,
  ServerStartRequested,
  ServerStopped,
  ServerStopping,
  ServerStopRequested,
  ServerUpdated,
  type CloudEvent,
  type EventData,
  type ExitFacts,
  type Limits,
  type NewEvent,
  type Port,
  type PowerAction,
  type PowerReply,
  type ServerState as ServerStateName,
} from '@encedeus/contracts';

export type TemplateSnapshot = EventData<typeof ServerCreated>['template'];

/** The server aggregate: desired state (what was asked) and observed state (what the agent said). */
export interface ServerState {
  exists: boolean;
  deleted: boolean;
  name: string;
  template_id: string;
  node_id: string;
  owner_id: string;
  limits: Limits;
  variables: Record<string, string>;
  ports: Port[];
  template: TemplateSnapshot | null;
  state: ServerStateName;
  desired: 'running' | 'stopped';
  runId: string | null;
  /** Crashes since the last start asked by someone (drives restart back-off). */
  crashes: number;
  lastExit: { code: number | null; signal: string | null; reason?: string; at: string } | null;
}

export const initialServer = (): ServerState => ({
  exists: false,
  deleted: false,
  name: '',
  template_id: '',
  node_id: '',
  owner_id: '',
  limits: { memory_mb: 0, cpu_percent: 0, disk_mb: 0 },
  variables: {},
  ports: [],
  template: null,
  state: 'installing',
  desired: 'stopped',
  runId: null,
  crashes: 0,
  lastExit: null,
});

export function evolveServer(state: ServerState, e: Pick<CloudEvent, 'type' | 'data'> & { time?: string }): ServerState {
  const d = e.data as Record<string, any>;
  const exit = () => ({ code: d.exit_code ?? null, signal: d.signal ?? null, reason: d.reason, at: e.time ?? new Date(0).toISOString() });
  switch (e.type) {
    case ServerCreated.type:
      return {
        ...state,
        exists: true,
        name: d.name,
        template_id: d.template_id,
        node_id: d.node_id,
        owner_id: d.owner_id,
        limits: d.limits,
        variables: d.variables,
        ports: d.ports,
        template: d.template,
        state: 'installing',
      };
    case ServerUpdated.type:
      return { ...state, ...Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined)) };
    case ServerDeleted.type:
      return { ...state, deleted: true, desired: 'stopped' };
    case ServerInstallStarted.type:
      return { ...state, state: 'installing' };
    case ServerInstalled.type:
      return { ...state, state: d.success ? 'offline' : 'install_failed' };
    case ServerStartRequested.type:
      return { ...state, desired: 'running', state: 'starting', crashes: 0 };
    case ServerStarting.type:
      return { ...state, state: 'starting', runId: d.run_id };
    case ServerRunning.type:
      return { ...state, state: 'running', runId: d.run_id };
    case ServerStopRequested.type:
      return { ...state, desired: 'stopped', state: 'stopping' };
    case ServerStopping.type:
      return { ...state, state: 'stopping' };
    case ServerStopped.type:
      return { ...state, state: 'offline', runId: null, lastExit: exit() };
    case ServerKilled.type:
      return { ...state, state: 'offline', desired: 'stopped', runId: null, lastExit: exit() };
    case ServerCrashed.type:
      return { ...state, state: 'crashed', desired: d.will_restart ? 'running' : 'stopped', runId: null, crashes: state.crashes + 1, lastExit: exit() };
    case ServerRestarted.type:
      return d.by === 'policy' ? { ...state, state: 'starting' } : state;
    default:
      return state;
  }
}

export const serverReducer = { name: 'server-v1', initialState: initialServer, evolve: evolveServer };

export function assertServer(state: ServerState, id: string): void {
  if (!state.exists || state.deleted) throw new NotFoundError('Server', id);
}

const isUp = (s: ServerState) => s.state === 'starting' || s.state === 'running' || s.state === 'stopping';

/** Events to append before the agent is asked; the agent is always asked (its actions are idempotent). */
export function decidePower(state: ServerState, id: string, action: PowerAction): NewEvent[] {
  assertServer(state, id);
  if (state.state === 'installing') throw new ConflictError(`Server ${id} is still installing`, { state: state.state });
  if (state.state === 'install_failed') throw new ConflictError(`Server ${id} failed to install; delete and recreate it`, { state: state.state });
  switch (action) {
    case 'start':
      return state.desired === 'running' && (state.state === 'running' || state.state === 'starting') ? [] : [event(ServerStartRequested, {})];
    case 'stop':
      return !isUp(state) && state.desired === 'stopped' ? [] : [event(ServerStopRequested, {})];
    case 'restart':
      return [event(ServerRestarted, { by: 'action' }), ...(isUp(state) ? [event(ServerStopRequested, {})] : []), event(ServerStartRequested, {})];
    case 'kill':
      return [];
  }
}

function exitData(exit: (ExitFacts & { run_id: string | null }) | undefined, runId: string | null) {
  return {
    run_id: exit?.run_id ?? runId,
    exit_code: exit?.code ?? null,
    signal: exit?.signal ?? null,
    ...(exit?.reason ? { reason: exit.reason } : {}),
  };
}

/** Events recording what the agent did for a power action. */
export function decideAfterPower(state: ServerState, action: PowerAction, reply: PowerReply): NewEvent[] {
  const events: NewEvent[] = [];
  const wasUp = state.runId !== null || isUp(state);
  if (reply.exit && wasUp && state.state !== 'offline' && state.state !== 'crashed') {
    events.push(action === 'kill' ? event(ServerKilled, exitData(reply.exit, state.runId)) : event(ServerStopped, exitData(reply.exit, state.runId)));
  } else if (reply.state === 'stopped' && (action === 'stop' || action === 'kill') && state.state !== 'offline' && state.state !== 'crashed') {
    events.push(action === 'kill' ? event(ServerKilled, exitData(reply.exit, state.runId)) : event(ServerStopped, exitData(reply.exit, state.runId)));
  }
  if (reply.state === 'running' && reply.run_id && (action === 'start' || action === 'restart') && reply.run_id !== state.runId) {
    events.push(event(ServerStarting, { run_id: reply.run_id }));
  }
  return events;
}

/** The console matched ready_pattern (or there is none). */
export function decideReady(state: ServerState, runId: string): NewEvent[] {
  if (!state.exists || state.deleted) return [];
  if (state.runId !== null && state.runId !== runId) return [];
  if (state.state === 'running' && state.runId === runId) return [];
  if (state.state !== 'starting' && state.state !== 'running') return [];
  return [event(ServerRunning, { run_id: runId })];
}

/** The agent started a run we did not hear about yet (e.g. a reply lost to a timeout). */
export function decideStarted(state: ServerState, runId: string): NewEvent[] {
  if (!state.exists || state.deleted || state.runId === runId) return [];
  if (state.desired !== 'running') return [];
  return [event(ServerStarting, { run_id: runId })];
}

export interface RestartDecision {
  willRestart: boolean;
  attempt: number;
  delayMs: number;
}

/** Restart policy with exponential back-off: backoff_ms × 2^(attempt-1). */
export function restartDecision(state: ServerState): RestartDecision {
  const policy = state.template?.restart;
  const attempt = state.crashes + 1;
  if (!policy?.on_crash || attempt > policy.max_attempts) return { willRestart: false, attempt, delayMs: 0 };
  return { willRestart: true, attempt, delayMs: Math.min(policy.backoff_ms * 2 ** (attempt - 1), 300_000) };
}

/** A run ended: stopped when asked, crashed otherwise. Late reports of older runs change nothing. */
export function decideExited(state: ServerState, report: ExitFacts & { run_id: string | null }): NewEvent[] {
  if (!state.exists || state.deleted) return [];
  if (state.state === 'offline' || state.state === 'crashed' || state.state === 'installing' || state.state === 'install_failed') return [];
  if (state.runId !== null && report.run_id !== null && report.run_id !== state.runId) return [];
  const data = exitData(report, state.runId);
  if (report.expected && !report.reason) return [event(ServerStopped, data)];
  const restart = restartDecision(state);
  return [
    event(ServerCrashed, {
      ...data,
      reason: report.reason ?? (report.expected ? undefined : 'unexpected_exit'),
      will_restart: restart.willRestart,
      attempt: restart.attempt,
      ...(restart.willRestart ? { restart_in_ms: restart.delayMs } : {}),
    }),
  ];
}

export function decideInstalled(state: ServerState, success: boolean, error?: string): NewEvent[] {
  if (!state.exists || state.deleted || state.state !== 'installing') return [];
  return [event(ServerInstalled, error ? { success, error } : { success })];
}

/** After an agent (re)boot: reconcile what it observed with what we believe. */
export function decideObserved(state: ServerState, observed: { state: 'running' | 'stopped'; run_id: string | null; exit?: ExitFacts }): NewEvent[] {
  if (!state.exists || state.deleted) return [];
  if (observed.state === 'running' && observed.run_id) {
    if (state.state === 'running' && state.runId === observed.run_id) return [];
    return [event(ServerStarting, { run_id: observed.run_id }), event(ServerRunning, { run_id: observed.run_id })];
  }
  if (isUp(state)) {
    return decideExited(state, {
      run_id: state.runId,
      code: observed.exit?.code ?? null,
      signal: observed.exit?.signal ?? null,
      expected: observed.exit?.expected ?? false,
      reason: observed.exit?.reason ?? (observed.exit ? undefined : 'lost_while_agent_away'),
    });
  }
  return [];
}

export { ServerStopping };
