import {
  ConflictError,
  DomainError,
  event,
  ForbiddenError,
  lockedVariableChanges,
  limitViolations,
  NotFoundError,
  resolveVariables,
  ServerCrashed,
  ServerFilesChanged,
  ServerInstallAttemptFailed,
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
  ServerSubuserAdded,
  ServerSubuserChanged,
  ServerSubuserRemoved,
  ServerUpdated,
  canControlServer,
  grantableSubuserPermissions,
  MAX_SUBUSERS_PER_SERVER,
  missingToControlServer,
  subuserGrant,
  type ServerSubuser,
  type SubuserActor,
  type SubuserPermission,
  type CloudEvent,
  type EventData,
  type ExitFacts,
  type Limits,
  type NewEvent,
  type Port,
  type PowerAction,
  type PowerReply,
  type ObservedServer,
  type ServerState as ServerStateName,
  type TemplateVariable,
  type UpdateServer,
  ValidationError,
} from '@encedeus/contracts';
import type { Decider, Revision } from '@encedeus/messaging';
import { assertCapacity, type NodeCapacity } from './placement';

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
  /** The server's own startup line instead of its template's (PATCH {startup}); null: the template's. */
  startup: string | null;
  state: ServerStateName;
  desired: 'running' | 'stopped';
  runId: string | null;
  /** Crashes since the last start asked by someone (drives restart back-off). */
  crashes: number;
  lastExit: { code: number | null; signal: string | null; reason?: string; at: string } | null;
  /** When server.created was recorded. */
  createdAt: string | null;
  /** A crash the restart policy restarts at this time (the restart process manager's schedule). */
  restartDueAt: string | null;
  /** While installing: when the install process manager (re)tries to reach the agent; null: at the node's next sync. */
  installDueAt: string | null;
  /** Install attempts that could not reach the agent. */
  installAttempts: number;
  /** Other users and the server actions they were granted (docs/subusers.md), ordered by user_id. */
  subusers: ServerSubuser[];
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
  startup: null,
  state: 'installing',
  desired: 'stopped',
  runId: null,
  crashes: 0,
  lastExit: null,
  createdAt: null,
  restartDueAt: null,
  installDueAt: null,
  installAttempts: 0,
  subusers: [],
});

export function evolveServer(state: ServerState, e: Pick<CloudEvent, 'type' | 'data'> & { time?: string }): ServerState {
  const d = e.data as Record<string, any>;
  const at = e.time ?? new Date(0).toISOString();
  const exit = () => ({ code: d.exit_code ?? null, signal: d.signal ?? null, reason: d.reason, at });
  const next = evolveLifecycle(state, e.type, d, exit);
  // Any other fact about the server ends a pending restart: only server.crashed schedules one.
  if (e.type === ServerCrashed.type) {
    return { ...next, restartDueAt: d.will_restart ? (d.due_at ?? new Date(Date.parse(at) + (d.restart_in_ms ?? 0)).toISOString()) : null };
  }
  switch (e.type) {
    case ServerCreated.type:
      return { ...next, createdAt: at };
    case ServerInstallStarted.type:
      return { ...next, installDueAt: at, installAttempts: 0, restartDueAt: null };
    case ServerInstallAttemptFailed.type:
      return { ...next, installDueAt: d.retry_at, installAttempts: d.attempt };
    case ServerInstalled.type:
    case ServerDeleted.type:
      return { ...next, installDueAt: null, restartDueAt: null };
    case ServerUpdated.type:
      return next;
    case ServerFilesChanged.type:
    case ServerSubuserAdded.type:
    case ServerSubuserChanged.type:
    case ServerSubuserRemoved.type:
      // Files changed over SFTP or REST, and who may use the server, are not facts about the run: a pending restart stays.
      return next;
    default:
      return next.restartDueAt === null ? next : { ...next, restartDueAt: null };
  }
}

function evolveLifecycle(state: ServerState, type: string, d: Record<string, any>, exit: () => ServerState['lastExit']): ServerState {
  switch (type) {
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
    case ServerSubuserAdded.type:
    case ServerSubuserChanged.type:
      return {
        ...state,
        subusers: [...state.subusers.filter((u) => u.user_id !== d.user_id), { user_id: d.user_id, permissions: d.permissions }].sort((a, b) => a.user_id.localeCompare(b.user_id)),
      };
    case ServerSubuserRemoved.type:
      return { ...state, subusers: state.subusers.filter((u) => u.user_id !== d.user_id) };
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
      // A kill of a crashed server the policy is about to restart cancels the restart (desired: stopped).
      return state.state === 'crashed' && state.desired === 'running' ? [event(ServerStopRequested, {})] : [];
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
export function decideExited(state: ServerState, report: ExitFacts & { run_id: string | null }, now: string): NewEvent[] {
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
      ...(restart.willRestart ? { restart_in_ms: restart.delayMs, due_at: new Date(Date.parse(now) + restart.delayMs).toISOString() } : {}),
    }),
  ];
}

export function decideInstalled(state: ServerState, success: boolean, error?: string): NewEvent[] {
  if (!state.exists || state.deleted || state.state !== 'installing') return [];
  return [event(ServerInstalled, error ? { success, error } : { success })];
}

/** After an agent (re)boot: reconcile what it observed with what we believe. */
export function decideObserved(state: ServerState, observed: { state: 'running' | 'stopped'; run_id: string | null; exit?: ExitFacts }, now: string): NewEvent[] {
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
    }, now);
  }
  return [];
}


// ---------- commands

/** The template a server is created from (its snapshot in server.created). */
export type ServerTemplate = TemplateSnapshot;

/** Create a server on `node` (placed by the handler, or named by the caller: `explicitNode`). */
export interface CreateServer {
  type: 'create';
  name: string;
  template_id: string;
  template: ServerTemplate;
  owner_id: string;
  /** Requested limits over the template's defaults. */
  limits: Partial<Limits> | undefined;
  /** Requested variable values (validated against the template's rules here). */
  variables: Record<string, string>;
  ports: Port[];
  node: NodeCapacity;
  explicitNode: boolean;
  /** The gateway vouched that the caller may change locked variables. */
  editLocked: boolean;
}

/** PATCH a server; `node` (its node with the other servers' allocation) is needed only when limits are given. */
export interface UpdateServerCommand {
  type: 'update';
  id: string;
  patch: UpdateServer;
  node: NodeCapacity | null;
  editLocked: boolean;
  /** The caller as the gateway vouches for it; a new startup line is refused without it (contracts' rule, action `startup`). */
  actor?: SubuserActor;
}

export type ServerCommand =
  | CreateServer
  | UpdateServerCommand
  | { type: 'delete' }
  | { type: 'request_power'; id: string; action: PowerAction; nodeOnline: boolean }
  | { type: 'record_power'; action: PowerAction; reply: PowerReply }
  | { type: 'report_installed'; nodeId: string; success: boolean; error?: string }
  | { type: 'report_started'; nodeId: string; runId: string }
  | { type: 'report_ready'; nodeId: string; runId: string }
  | { type: 'report_exited'; nodeId: string; exit: ExitFacts & { run_id: string | null }; now: string }
  /** A sync observation, taken when the aggregate was at `seenAtVersion`: stale (ignored) if it moved since. */
  | { type: 'report_observed'; nodeId: string; observed: ObservedServer & { exit?: ExitFacts }; seenAtVersion: number; now: string }
  | { type: 'restart_by_policy'; now: string }
  | { type: 'install_attempt_failed'; error: string; retryAt: string | null }
  /** The install deadline passed (`deadlineS` after server.created) while the node is offline: the install ends install_failed. */
  | { type: 'end_overdue_install'; nodeName: string; nodeOnline: boolean; deadlineS: number; now: string }
  /** Files a user changed on the server's node, over SFTP (the agent's report) or REST (the handler records the user as actor). */
  | { type: 'report_files_changed'; nodeId: string; via: EventData<typeof ServerFilesChanged>['via']; changes: readonly FileChange[] }
  /** Sub-users (docs/subusers.md): `actor` is the caller as the gateway vouches for it; the rule is re-applied to the current state here. */
  | { type: 'add_subuser'; id: string; userId: string; permissions: SubuserPermission[]; actor: SubuserActor }
  | { type: 'update_subuser'; id: string; userId: string; permissions: SubuserPermission[]; actor: SubuserActor }
  | { type: 'remove_subuser'; id: string; userId: string; actor: SubuserActor };

/** One change to a server's files: one server.files_changed event. */
export type FileChange = Pick<EventData<typeof ServerFilesChanged>, 'op' | 'path' | 'to'>;

/** Merged limits (template defaults + request) must meet the minimums: 0 is refused, never unlimited. */
export function assertLimits(limits: Limits): void {
  const violations = limitViolations(limits);
  if (violations.length) throw new ValidationError(`Invalid limits: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}`, violations);
}

/**
 * Variables the template locks (`user_editable: false`) keep their value unless the gateway vouched
 * for the caller (`edit_locked_variables`: it holds one of LOCKED_VARIABLE_EDITORS).
 */
export function assertLockedUnchanged(definitions: TemplateVariable[], given: Record<string, string>, current: Record<string, string> | undefined, vouched: boolean): void {
  if (vouched) return;
  const locked = lockedVariableChanges(definitions, given, current);
  if (locked.length) throw new ForbiddenError(`${locked.map((v) => v.path.replace('variables.', '')).join(', ')} cannot be changed: the template locks it (user_editable: false)`, { fields: locked });
}

function resolved(definitions: TemplateVariable[], values: Record<string, string>): Record<string, string> {
  const { values: result, violations } = resolveVariables(definitions, values);
  if (violations.length) throw new ValidationError(`Invalid variable ${violations.map((v) => v.path.replace('variables.', '')).join(', ')}: ${violations[0].message}`, violations);
  return result;
}

function decideCreate(state: ServerState, cmd: CreateServer): NewEvent[] {
  if (state.exists) return [];
  const t = cmd.template;
  const variables = resolved(t.variables, cmd.variables);
  assertLockedUnchanged(t.variables, cmd.variables, undefined, cmd.editLocked);
  const limits = { ...t.limits, ...cmd.limits };
  assertLimits(limits);
  if (t.driver === 'process') {
    const remapped = cmd.ports.find((p) => p.host !== p.container);
    if (remapped) throw new ValidationError('The process driver cannot remap ports', [{ path: 'ports', message: `host ${remapped.host} ≠ container ${remapped.container}` }]);
  }
  if (cmd.explicitNode && cmd.node.draining) throw new ConflictError(`Node ${cmd.node.id} is draining; no new servers are placed on it`);
  // A server the node cannot install would stay "installing" forever (issue 14): refuse it here.
  if (cmd.node.drivers !== null && !cmd.node.drivers.includes(t.driver)) {
    throw new DomainError('UNPROCESSABLE', `Node ${cmd.node.name} cannot run ${t.driver} servers (its agent offers: ${cmd.node.drivers.join(', ') || 'none'})`, {
      node_id: cmd.node.id,
      driver: t.driver,
      drivers: cmd.node.drivers,
      fields: [{ path: 'node_id', message: `no ${t.driver} driver on this node` }],
    });
  }
  if (cmd.explicitNode && !cmd.node.online) throw new ConflictError(`Node ${cmd.node.name} is offline; start its agent or choose an online node`, { node_id: cmd.node.id });
  assertCapacity(cmd.node, limits);
  return [
    event(ServerCreated, { name: cmd.name, template_id: cmd.template_id, node_id: cmd.node.id, owner_id: cmd.owner_id, limits, variables, ports: cmd.ports, template: t }),
    event(ServerInstallStarted, {}),
  ];
}

function decideUpdate(state: ServerState, cmd: UpdateServerCommand): NewEvent[] {
  const { patch } = cmd;
  const changed: Record<string, unknown> = {};
  if (patch.name !== undefined && patch.name !== state.name) changed.name = patch.name;
  if (patch.limits) {
    const limits = { ...state.limits, ...patch.limits };
    if (JSON.stringify(limits) !== JSON.stringify(state.limits)) {
      assertLimits(limits);
      if (!cmd.node) throw new ConflictError(`The capacity of node ${state.node_id} is unknown`);
      assertCapacity(cmd.node, limits);
      changed.limits = limits;
    }
  }
  if (patch.variables) {
    assertLockedUnchanged(state.template!.variables, patch.variables, state.variables, cmd.editLocked);
    const values = resolved(state.template!.variables, { ...state.variables, ...patch.variables });
    if (JSON.stringify(values) !== JSON.stringify(state.variables)) changed.variables = values;
  }
  if (patch.ports && JSON.stringify(patch.ports) !== JSON.stringify(state.ports)) changed.ports = patch.ports;
  if (patch.startup !== undefined && patch.startup !== (state.startup ?? null)) {
    assertMayChangeStartup(state, cmd);
    changed.startup = patch.startup;
  }
  return Object.keys(changed).length === 0 ? [] : [event(ServerUpdated, changed)];
}

/** `servers.manage`, or the owner when the template sets `startup_editable` (contracts' rule on the current state). */
function assertMayChangeStartup(state: ServerState, cmd: UpdateServerCommand): void {
  const principal = cmd.actor ? principalOf(cmd.actor) : null;
  const server = { owner_id: state.owner_id, subusers: state.subusers, startup_editable: state.template?.startup_editable === true };
  if (principal && canControlServer(principal, server, 'startup')) return;
  const reason = server.startup_editable ? 'only its owner or a holder of servers.manage may' : 'its template does not let owners (startup_editable), only servers.manage may';
  throw new ForbiddenError(`You may not change the startup line of server ${cmd.id}: ${reason}`, {
    fields: [{ path: 'startup', message: 'not allowed' }],
    ...(principal ? { missing: missingToControlServer(principal, server, 'startup') } : {}),
  });
}

/** The caller as contracts' access rule sees it. */
const principalOf = (actor: SubuserActor) => ({ userId: actor.user_id, permissions: new Set(actor.permissions) });

/**
 * Who may change the server's sub-users (contracts' rule on the current state): `users` on the
 * server (owner, `servers.manage`, or a sub-user granted it); nobody grants, or takes away from
 * another sub-user, a permission it cannot itself exercise there; nobody changes its own grant.
 */
function assertMayManageSubusers(state: ServerState, id: string, actor: SubuserActor, target: string, permissions: readonly SubuserPermission[]): void {
  const principal = principalOf(actor);
  if (!canControlServer(principal, state, 'users')) {
    throw new ForbiddenError(`You may not manage the sub-users of server ${id}`, { missing: missingToControlServer(principal, state, 'users') });
  }
  const grantable = grantableSubuserPermissions(principal, state);
  const beyond = permissions.filter((p) => !grantable.includes(p));
  if (beyond.length) throw new ForbiddenError(`You may not grant what you cannot do on this server yourself: ${beyond.join(', ')}`, { permissions: beyond });
  const held = subuserGrant(state, target)?.permissions ?? [];
  const stronger = held.filter((p) => !grantable.includes(p));
  if (stronger.length) throw new ForbiddenError(`This sub-user holds what you cannot do on this server yourself: ${stronger.join(', ')}`, { permissions: stronger });
}

function decideSubuser(state: ServerState, cmd: Extract<ServerCommand, { type: 'add_subuser' | 'update_subuser' | 'remove_subuser' }>): NewEvent[] {
  assertServer(state, cmd.id);
  const existing = subuserGrant(state, cmd.userId);
  if (cmd.type === 'add_subuser') {
    assertMayManageSubusers(state, cmd.id, cmd.actor, cmd.userId, cmd.permissions);
    if (cmd.userId === state.owner_id) throw new ConflictError('The owner already holds every permission on its server; it cannot be a sub-user', { user_id: cmd.userId });
    if (existing) throw new ConflictError(`User ${cmd.userId} is already a sub-user of this server; PATCH its permissions instead`, { user_id: cmd.userId });
    if (state.subusers.length >= MAX_SUBUSERS_PER_SERVER) throw new ConflictError(`A server has at most ${MAX_SUBUSERS_PER_SERVER} sub-users`);
    return [event(ServerSubuserAdded, { user_id: cmd.userId, permissions: [...cmd.permissions] })];
  }
  if (!existing) throw new NotFoundError('Sub-user', cmd.userId);
  if (cmd.type === 'update_subuser') {
    if (cmd.userId === cmd.actor.user_id) throw new ForbiddenError('You may not change your own permissions on this server');
    assertMayManageSubusers(state, cmd.id, cmd.actor, cmd.userId, cmd.permissions);
    const same = existing.permissions.length === cmd.permissions.length && existing.permissions.every((p) => cmd.permissions.includes(p));
    return same ? [] : [event(ServerSubuserChanged, { user_id: cmd.userId, permissions: [...cmd.permissions] })];
  }
  // Anyone may leave a server it was granted; removing someone else is managing sub-users.
  if (cmd.userId !== cmd.actor.user_id) assertMayManageSubusers(state, cmd.id, cmd.actor, cmd.userId, []);
  return [event(ServerSubuserRemoved, { user_id: cmd.userId })];
}

/** The restart policy's restart of a crashed server, once it is due; anything that happened since cancels it. */
function decideRestartByPolicy(state: ServerState, now: string): NewEvent[] {
  if (!state.exists || state.deleted || state.state !== 'crashed' || state.desired !== 'running') return [];
  if (state.restartDueAt === null || Date.parse(state.restartDueAt) > Date.parse(now)) return [];
  return [event(ServerRestarted, { by: 'policy', attempt: state.crashes })];
}

/** Reports of another node than the server's (a server moved, a forged report) change nothing. */
const onNode = (state: ServerState, nodeId: string, decide: () => NewEvent[]): NewEvent[] => (state.node_id === nodeId ? decide() : []);

/**
 * The server decider: every change to a server is one of these commands. Pure: the handler loads the
 * facts a decision needs (the node's capacity, whether it is online, the time) into the command.
 */
export const serverDecider: Decider<ServerState, ServerCommand> = {
  name: 'server-v3', // v3: the state holds sub-users (an older snapshot lacks them)
  initialState: initialServer,
  evolve: evolveServer,
  decide(cmd: ServerCommand, state: ServerState, revision: Revision): NewEvent[] {
    if (cmd.type === 'create') return decideCreate(state, cmd);
    switch (cmd.type) {
      case 'update':
        assertServer(state, cmd.id);
        return decideUpdate(state, cmd);
      case 'delete':
        return state.exists && !state.deleted ? [event(ServerDeleted, {})] : [];
      case 'request_power':
        return decideRequestPower(state, cmd.id, cmd.action, cmd.nodeOnline);
      case 'record_power':
        return decideAfterPower(state, cmd.action, cmd.reply);
      case 'report_installed':
        return onNode(state, cmd.nodeId, () => decideInstalled(state, cmd.success, cmd.error));
      case 'report_started':
        return onNode(state, cmd.nodeId, () => decideStarted(state, cmd.runId));
      case 'report_ready':
        return onNode(state, cmd.nodeId, () => decideReady(state, cmd.runId));
      case 'report_exited':
        return onNode(state, cmd.nodeId, () => decideExited(state, cmd.exit, cmd.now));
      case 'report_observed':
        if (revision.version !== cmd.seenAtVersion) return [];
        return onNode(state, cmd.nodeId, () => {
          const installed = cmd.observed.installed ? decideInstalled(state, true) : [];
          const after = installed.reduce((s, e) => evolveServer(s, e as never), state);
          return [...installed, ...decideObserved(after, cmd.observed, cmd.now)];
        });
      case 'restart_by_policy':
        return decideRestartByPolicy(state, cmd.now);
      case 'report_files_changed':
        if (!state.exists || state.deleted) return [];
        return onNode(state, cmd.nodeId, () =>
          cmd.changes.map(({ op, path, to }) => event(ServerFilesChanged, { via: cmd.via, op, path, ...(to !== undefined ? { to } : {}), node_id: cmd.nodeId })),
        );
      case 'add_subuser':
      case 'update_subuser':
      case 'remove_subuser':
        return decideSubuser(state, cmd);
      case 'install_attempt_failed':
        if (!state.exists || state.deleted || state.state !== 'installing') return [];
        return [event(ServerInstallAttemptFailed, { attempt: state.installAttempts + 1, error: cmd.error, retry_at: cmd.retryAt })];
      case 'end_overdue_install':
        return decideOverdueInstall(state, cmd);
    }
  },
};

const duration = (s: number) => (s % 60 === 0 ? `${s / 60} minute${s === 60 ? '' : 's'}` : `${s} second${s === 1 ? '' : 's'}`);

/**
 * An install waits for an offline node, but only until `deadlineS` after the server's creation; then
 * it ends install_failed with the reason. A node that is online again goes on installing (retries,
 * its sync), whose own failures are bounded.
 */
function decideOverdueInstall(state: ServerState, cmd: Extract<ServerCommand, { type: 'end_overdue_install' }>): NewEvent[] {
  if (!state.exists || state.deleted || state.state !== 'installing' || cmd.nodeOnline || state.createdAt === null) return [];
  if (Date.parse(state.createdAt) + cmd.deadlineS * 1000 > Date.parse(cmd.now)) return [];
  const error = `Node ${cmd.nodeName} was offline; the install did not start within ${duration(cmd.deadlineS)} of the server's creation (NODES_INSTALL_DEADLINE_S)`;
  return [event(ServerInstalled, { success: false, error })];
}

/** A power action asked by someone: refused on an offline node; what to record before the agent is asked. */
function decideRequestPower(state: ServerState, id: string, action: PowerAction, nodeOnline: boolean): NewEvent[] {
  assertServer(state, id);
  if (!nodeOnline) {
    throw new DomainError('SERVICE_UNAVAILABLE', `Node ${state.node_id} is offline; the server cannot be ${action === 'stop' ? 'stopped' : action + 'ed'} now`, { node_id: state.node_id });
  }
  return decidePower(state, id, action);
}
