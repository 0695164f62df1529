import {
  ServerCrashed,
  ServerCreated,
  ServerDeleted,
  ServerFilesChanged,
  ServerInstallAttemptFailed,
  ServerInstalled,
  ServerInstallStarted,
  ServerKilled,
  ServerRestarted,
  ServerRunning,
  ServerStarting,
  ServerStartRequested,
  ServerStopped,
  ServerStopRequested,
  ServerSubuserAdded,
  ServerSubuserChanged,
  ServerSubuserRemoved,
  ServerUpdated,
  DEFAULT_USER_PERMISSIONS,
  type NewEvent,
  type SubuserActor,
} from '@encedeus/contracts';
import { NO_STREAM, type Revision } from '@encedeus/messaging';
import { evolveServer, initialServer, serverDecider, type CreateServer, type ServerCommand, type ServerState, type ServerTemplate } from './server.decider';
import type { NodeCapacity } from './placement';

const T0 = '2026-11-30T12:00:00.000Z';
const template: ServerTemplate = {
  name: 'echo',
  driver: 'process',
  startup: 'exec node server.js',
  variables: [
    { name: 'GREETING', default: 'hello', rules: 'required|string|max:16' },
    { name: 'SECRET', default: 'fixed', rules: 'required|string', user_editable: false },
  ],
  stop: { command: 'stop', signal: 'SIGTERM', timeout_s: 10 },
  limits: { memory_mb: 256, cpu_percent: 100, disk_mb: 512 },
  restart: { on_crash: true, max_attempts: 2, backoff_ms: 1000 },
};
const node: NodeCapacity = {
  id: 'n1',
  name: 'node-1',
  memory_mb: 1024,
  cpu_percent: 400,
  storage_mb: 10_000,
  draining: false,
  online: true,
  drivers: ['process'],
  allocated: { memory_mb: 0, cpu_percent: 0, disk_mb: 0 },
};
const create = (over: Partial<CreateServer> = {}): CreateServer => ({
  type: 'create',
  name: 'echo',
  template_id: 't1',
  template,
  owner_id: 'u1',
  limits: undefined,
  variables: {},
  ports: [],
  node,
  explicitNode: true,
  editLocked: false,
  ...over,
});

/** Given these events (each at T0), the state and revision the decider sees. */
function given(...events: NewEvent[]): { state: ServerState; revision: Revision } {
  const state = events.reduce((s, e) => evolveServer(s, { ...e, time: T0 }), initialServer());
  return { state, revision: { version: events.length, sequence: events.length } };
}
const when = ({ state, revision }: { state: ServerState; revision: Revision }, cmd: ServerCommand) => () => serverDecider.decide(cmd, state, revision);
const types = (events: readonly NewEvent[]) => events.map((e) => e.type);

const created: NewEvent = { type: ServerCreated.type, data: { name: 'echo', template_id: 't1', node_id: 'n1', owner_id: 'u1', limits: template.limits, variables: { GREETING: 'hello', SECRET: 'fixed' }, ports: [], template } };
const installStarted: NewEvent = { type: ServerInstallStarted.type, data: {} };
const installed: NewEvent = { type: ServerInstalled.type, data: { success: true } };
const startRequested: NewEvent = { type: ServerStartRequested.type, data: {} };
const starting: NewEvent = { type: ServerStarting.type, data: { run_id: 'r1' } };
const running: NewEvent = { type: ServerRunning.type, data: { run_id: 'r1' } };
const crashed = (attempt = 1): NewEvent => ({
  type: ServerCrashed.type,
  data: { run_id: 'r1', exit_code: 1, signal: null, reason: 'unexpected_exit', will_restart: true, attempt, restart_in_ms: 1000, due_at: '2026-11-30T12:00:01.000Z' },
});
const offline = [created, installStarted, installed];
const up = [...offline, startRequested, starting, running];
const exit = { run_id: 'r1', code: 1, signal: null, expected: false };

describe('decide(create)', () => {
  it('records the server with resolved variables and merged limits, then its install', () => {
    const events = when(given(), create({ variables: { GREETING: 'hi' }, limits: { memory_mb: 128 } }))();

    expect(types(events)).toEqual([ServerCreated.type, ServerInstallStarted.type]);
    expect(events[0].data).toMatchObject({ node_id: 'n1', variables: { GREETING: 'hi', SECRET: 'fixed' }, limits: { memory_mb: 128, cpu_percent: 100, disk_mb: 512 } });
  });

  it('refuses a variable that breaks its rule, naming it', () => {
    expect(when(given(), create({ variables: { GREETING: 'x'.repeat(17) } }))).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED', message: expect.stringContaining('GREETING') }));
  });

  it('refuses a locked variable unless the gateway vouched for the caller', () => {
    expect(when(given(), create({ variables: { SECRET: 'mine' } }))).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    expect(types(when(given(), create({ variables: { SECRET: 'mine' }, editLocked: true }))())).toContain(ServerCreated.type);
  });

  it('refuses a limit of 0', () => {
    expect(when(given(), create({ limits: { memory_mb: 0 } }))).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });

  it('refuses more memory than the node has left, with the numbers', () => {
    const busy = { ...node, allocated: { memory_mb: 900, cpu_percent: 0, disk_mb: 0 } };

    expect(when(given(), create({ node: busy }))).toThrow(expect.objectContaining({ code: 'INSUFFICIENT_CAPACITY', details: expect.objectContaining({ free_memory_mb: 124, requested_memory_mb: 256 }) }));
  });

  it('refuses a draining node named by the caller', () => {
    expect(when(given(), create({ node: { ...node, draining: true } }))).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
  });

  it('refuses a node whose agent has no driver for the template (it would stay installing forever)', () => {
    expect(when(given(), create({ template: { ...template, driver: 'docker' } }))).toThrow(
      expect.objectContaining({ code: 'UNPROCESSABLE', details: expect.objectContaining({ driver: 'docker', drivers: ['process'] }) }),
    );
    // Before the agent's first boot report the drivers are unknown: allowed.
    expect(when(given(), create({ template: { ...template, driver: 'docker' }, node: { ...node, drivers: null } }))()).toHaveLength(2);
  });

  it('refuses an offline node named by the caller (409), and CPU beyond what the node has left', () => {
    expect(when(given(), create({ node: { ...node, online: false } }))).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(when(given(), create({ limits: { cpu_percent: 350 }, node: { ...node, cpu_percent: 200 } }))).toThrow(
      expect.objectContaining({ code: 'INSUFFICIENT_CAPACITY', details: expect.objectContaining({ requested_cpu_percent: 350, free_cpu_percent: 200 }) }),
    );
  });

  it('refuses remapped ports on the process driver', () => {
    expect(when(given(), create({ ports: [{ host: 25565, container: 25566, protocol: 'tcp' }] }))).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });

  it('decides nothing when the server exists (a retried create with the same idempotency key)', () => {
    expect(when(given(...offline), create())()).toEqual([]);
  });
});

describe('decide(update)', () => {
  it('records only what changed', () => {
    const events = when(given(...offline), { type: 'update', id: 's1', patch: { name: 'echo', variables: { GREETING: 'yo' } }, node: null, editLocked: false })();

    expect(events).toEqual([{ type: ServerUpdated.type, data: { variables: { GREETING: 'yo', SECRET: 'fixed' } } }]);
  });

  it('decides nothing for an unchanged patch', () => {
    expect(when(given(...offline), { type: 'update', id: 's1', patch: { name: 'echo' }, node: null, editLocked: false })()).toEqual([]);
  });

  it('checks new limits against the node without this server', () => {
    const full = { ...node, allocated: { memory_mb: 1000, cpu_percent: 0, disk_mb: 0 } };

    expect(when(given(...offline), { type: 'update', id: 's1', patch: { limits: { memory_mb: 64 } }, node: full, editLocked: false })).toThrow(expect.objectContaining({ code: 'INSUFFICIENT_CAPACITY' }));
  });

  it('answers 404 for a deleted server', () => {
    expect(when(given(...offline, { type: ServerDeleted.type, data: {} }), { type: 'update', id: 's1', patch: { name: 'x' }, node: null, editLocked: false })).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });
});

describe('decide(update) startup (issue 14)', () => {
  const OWNER: SubuserActor = { user_id: 'u1', permissions: [...DEFAULT_USER_PERMISSIONS] };
  const ADMIN: SubuserActor = { user_id: 'admin', permissions: ['servers.manage'] };
  const editable: NewEvent = { ...created, data: { ...(created.data as object), template: { ...template, startup_editable: true } } };
  const setStartup = (startup: string | null, actor?: SubuserActor): ServerCommand => ({ type: 'update', id: 's1', patch: { startup }, node: null, editLocked: false, actor });

  it('records a holder of servers.manage changing the startup line, and the state runs it next', () => {
    const events = when(given(...offline), setStartup('exec node other.js', ADMIN))();

    expect(events).toEqual([{ type: ServerUpdated.type, data: { startup: 'exec node other.js' } }]);
    expect(given(...offline, ...events).state.startup).toBe('exec node other.js');
  });

  it('refuses the owner when the template does not set startup_editable', () => {
    expect(when(given(...offline), setStartup('exec node other.js', OWNER))).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });

  it('refuses a caller the gateway did not vouch for', () => {
    expect(when(given(...offline), setStartup('exec node other.js'))).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });

  it('lets the owner change it when the template sets startup_editable, and go back to the template\'s with null', () => {
    const changed: NewEvent = { type: ServerUpdated.type, data: { startup: 'exec node other.js' } };

    const events = when(given(editable, installStarted, installed, changed), setStartup(null, OWNER))();

    expect(events).toEqual([{ type: ServerUpdated.type, data: { startup: null } }]);
    expect(given(editable, installStarted, installed, changed, ...events).state.startup).toBeNull();
  });

  it('decides nothing, and checks nothing, when the startup line is unchanged', () => {
    expect(when(given(...offline), setStartup(null, OWNER))()).toEqual([]);
  });
});

describe('decide(request_power)', () => {
  it('refuses a power action on an offline node', () => {
    expect(when(given(...offline), { type: 'request_power', id: 's1', action: 'start', nodeOnline: false })).toThrow(expect.objectContaining({ code: 'SERVICE_UNAVAILABLE' }));
  });

  it('refuses a server that is still installing', () => {
    expect(when(given(created, installStarted), { type: 'request_power', id: 's1', action: 'start', nodeOnline: true })).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
  });

  it('asks to start an offline server, and decides nothing for a running one', () => {
    expect(types(when(given(...offline), { type: 'request_power', id: 's1', action: 'start', nodeOnline: true })())).toEqual([ServerStartRequested.type]);
    expect(when(given(...up), { type: 'request_power', id: 's1', action: 'start', nodeOnline: true })()).toEqual([]);
  });

  it('restarts a running server as restarted, stop requested, start requested', () => {
    expect(types(when(given(...up), { type: 'request_power', id: 's1', action: 'restart', nodeOnline: true })())).toEqual([ServerRestarted.type, ServerStopRequested.type, ServerStartRequested.type]);
  });

  it('cancels a pending policy restart when a crashed server is killed', () => {
    const events = when(given(...up, crashed()), { type: 'request_power', id: 's1', action: 'kill', nodeOnline: true })();

    expect(types(events)).toEqual([ServerStopRequested.type]);
    expect(events.reduce((s, e) => evolveServer(s, e), given(...up, crashed()).state).restartDueAt).toBeNull();
  });
});

describe('decide(record_power)', () => {
  it('records the run the agent started', () => {
    expect(when(given(...offline, startRequested), { type: 'record_power', action: 'start', reply: { state: 'running', run_id: 'r2' } })()).toEqual([{ type: ServerStarting.type, data: { run_id: 'r2' } }]);
  });

  it('records a kill with the exit the agent saw', () => {
    const events = when(given(...up), { type: 'record_power', action: 'kill', reply: { state: 'stopped', run_id: null, exit: { ...exit, signal: 'SIGKILL', code: null, expected: true } } })();

    expect(types(events)).toEqual([ServerKilled.type]);
  });
});

describe('decide(report_*)', () => {
  it('ignores reports from another node than the server is on', () => {
    expect(when(given(...offline, startRequested), { type: 'report_started', nodeId: 'n2', runId: 'r9' })()).toEqual([]);
  });

  it('marks the run ready once', () => {
    expect(types(when(given(...offline, startRequested, starting), { type: 'report_ready', nodeId: 'n1', runId: 'r1' })())).toEqual([ServerRunning.type]);
    expect(when(given(...up), { type: 'report_ready', nodeId: 'n1', runId: 'r1' })()).toEqual([]);
  });

  it('records an asked-for exit as stopped', () => {
    expect(types(when(given(...up), { type: 'report_exited', nodeId: 'n1', exit: { ...exit, code: 0, expected: true }, now: T0 })())).toEqual([ServerStopped.type]);
  });

  it('schedules the policy restart of a crash at now + back-off', () => {
    const [event] = when(given(...up), { type: 'report_exited', nodeId: 'n1', exit, now: T0 })();

    expect(event).toEqual({ type: ServerCrashed.type, data: expect.objectContaining({ will_restart: true, attempt: 1, restart_in_ms: 1000, due_at: '2026-11-30T12:00:01.000Z' }) });
  });

  it('doubles the back-off per crash and stops restarting after max_attempts', () => {
    const second = when(given(...up, crashed(1), { type: ServerRestarted.type, data: { by: 'policy', attempt: 1 } }, starting, running), { type: 'report_exited', nodeId: 'n1', exit, now: T0 })();
    const third = when(given(...up, crashed(1), starting, running, crashed(2), starting, running), { type: 'report_exited', nodeId: 'n1', exit, now: T0 })();

    expect(second[0].data).toMatchObject({ will_restart: true, attempt: 2, restart_in_ms: 2000 });
    expect(third[0].data).toMatchObject({ will_restart: false, attempt: 3 });
  });

  it('ignores the exit of an older run', () => {
    expect(when(given(...up), { type: 'report_exited', nodeId: 'n1', exit: { ...exit, run_id: 'r0' }, now: T0 })()).toEqual([]);
  });

  it('ignores a sync observation made at another version', () => {
    const state = given(...up);

    expect(when(state, { type: 'report_observed', nodeId: 'n1', observed: { id: 's1', state: 'stopped', run_id: null, installed: true }, seenAtVersion: 2, now: T0 })()).toEqual([]);
  });

  it('records a server found dead after the agent was away as crashed', () => {
    const state = given(...up);

    const events = when(state, { type: 'report_observed', nodeId: 'n1', observed: { id: 's1', state: 'stopped', run_id: null, installed: true }, seenAtVersion: state.revision.version, now: T0 })();

    expect(events).toEqual([{ type: ServerCrashed.type, data: expect.objectContaining({ reason: 'lost_while_agent_away' }) }]);
  });
});

describe('decide(restart_by_policy)', () => {
  it('restarts a crashed server once its restart is due', () => {
    expect(when(given(...up, crashed()), { type: 'restart_by_policy', now: '2026-11-30T12:00:01.000Z' })()).toEqual([{ type: ServerRestarted.type, data: { by: 'policy', attempt: 1 } }]);
  });

  it('waits while the restart is not due yet', () => {
    expect(when(given(...up, crashed()), { type: 'restart_by_policy', now: '2026-11-30T12:00:00.500Z' })()).toEqual([]);
  });

  it('decides nothing when someone stopped the server meanwhile', () => {
    const state = given(...up, crashed(), { type: ServerStopRequested.type, data: {} });

    expect(state.state.restartDueAt).toBeNull();
    expect(when(state, { type: 'restart_by_policy', now: '2026-11-30T13:00:00.000Z' })()).toEqual([]);
  });

  it('schedules the next attempt when the restart itself failed (agent gone after server.restarted), and ends the policy after max_attempts', () => {
    const failedStart = { run_id: null, code: null, signal: null, expected: false, reason: 'restart_failed' };
    const restarted: NewEvent = { type: ServerRestarted.type, data: { by: 'policy', attempt: 1 } };

    const again = when(given(...up, crashed(1), restarted), { type: 'report_exited', nodeId: 'n1', exit: failedStart, now: '2026-11-30T12:00:02.000Z' })();
    const last = when(given(...up, crashed(1), restarted, crashed(2), restarted), { type: 'report_exited', nodeId: 'n1', exit: failedStart, now: '2026-11-30T12:00:05.000Z' })();

    expect(again).toEqual([{ type: ServerCrashed.type, data: expect.objectContaining({ reason: 'restart_failed', will_restart: true, attempt: 2, due_at: expect.any(String) }) }]);
    expect(last).toEqual([{ type: ServerCrashed.type, data: expect.objectContaining({ reason: 'restart_failed', will_restart: false }) }]);
  });

  it('takes the schedule of an old crash event without due_at from its time and delay', () => {
    const old: NewEvent = { type: ServerCrashed.type, data: { run_id: 'r1', exit_code: 1, signal: null, will_restart: true, attempt: 1, restart_in_ms: 2000 } };

    expect(given(...up, old).state.restartDueAt).toBe('2026-11-30T12:00:02.000Z');
  });
});

describe('decide(install_attempt_failed)', () => {
  it('records the attempt and when to retry', () => {
    const events = when(given(created, installStarted), { type: 'install_attempt_failed', error: 'not connected', retryAt: '2026-11-30T12:00:01.000Z' })();

    expect(events).toEqual([{ type: ServerInstallAttemptFailed.type, data: { attempt: 1, error: 'not connected', retry_at: '2026-11-30T12:00:01.000Z' } }]);
  });

  it('counts attempts and clears the schedule once installed', () => {
    const failed: NewEvent = { type: ServerInstallAttemptFailed.type, data: { attempt: 1, error: 'x', retry_at: '2026-11-30T12:00:01.000Z' } };
    const { state } = given(created, installStarted, failed);

    expect([state.installAttempts, state.installDueAt]).toEqual([1, '2026-11-30T12:00:01.000Z']);
    expect(given(created, installStarted, failed, installed).state.installDueAt).toBeNull();
  });

  it('decides nothing for an installed server', () => {
    expect(when(given(...offline), { type: 'install_attempt_failed', error: 'x', retryAt: null })()).toEqual([]);
  });
});

describe('decide(end_overdue_install) (issue 14, bug 4)', () => {
  const overdue = (over: Partial<Extract<ServerCommand, { type: 'end_overdue_install' }>> = {}): ServerCommand => ({
    type: 'end_overdue_install',
    nodeName: 'node-1',
    nodeOnline: false,
    deadlineS: 600,
    now: '2026-11-30T12:10:00.000Z',
    ...over,
  });

  it('ends the install of an offline node at the deadline, with the reason', () => {
    const events = when(given(created, installStarted), overdue())();

    expect(events).toEqual([
      { type: ServerInstalled.type, data: { success: false, error: "Node node-1 was offline; the install did not start within 10 minutes of the server's creation (NODES_INSTALL_DEADLINE_S)" } },
    ]);
  });

  it('decides nothing before the deadline', () => {
    expect(when(given(created, installStarted), overdue({ now: '2026-11-30T12:09:59.999Z' }))()).toEqual([]);
  });

  it('decides nothing once the node is back online (its install goes on)', () => {
    expect(when(given(created, installStarted), overdue({ nodeOnline: true }))()).toEqual([]);
  });

  it('decides nothing for an installed or deleted server', () => {
    expect(when(given(...offline), overdue())()).toEqual([]);
    expect(when(given(created, installStarted, { type: ServerDeleted.type, data: {} }), overdue())()).toEqual([]);
  });
});

describe('decide(delete)', () => {
  it('deletes once', () => {
    expect(types(when(given(...offline), { type: 'delete' })())).toEqual([ServerDeleted.type]);
    expect(when(given(...offline, { type: ServerDeleted.type, data: {} }), { type: 'delete' })()).toEqual([]);
    expect(when({ state: initialServer(), revision: NO_STREAM }, { type: 'delete' })()).toEqual([]);
  });
});

describe('decide(report_files_changed)', () => {
  it('records a change over SFTP reported by the server\'s node', () => {
    const events = when(given(...up), { type: 'report_files_changed', nodeId: 'n1', via: 'sftp', changes: [{ op: 'rename', path: '/a', to: '/b' }] })();

    expect(events).toEqual([{ type: ServerFilesChanged.type, data: { via: 'sftp', op: 'rename', path: '/a', to: '/b', node_id: 'n1' } }]);
  });

  it('records each change made over REST, one event apiece', () => {
    const events = when(given(...up), { type: 'report_files_changed', nodeId: 'n1', via: 'rest', changes: [{ op: 'remove', path: '/a' }, { op: 'remove', path: '/b' }] })();

    expect(events).toEqual([
      { type: ServerFilesChanged.type, data: { via: 'rest', op: 'remove', path: '/a', node_id: 'n1' } },
      { type: ServerFilesChanged.type, data: { via: 'rest', op: 'remove', path: '/b', node_id: 'n1' } },
    ]);
  });

  it('ignores a report of another node and of a deleted server', () => {
    const other = when(given(...up), { type: 'report_files_changed', nodeId: 'n2', via: 'sftp', changes: [{ op: 'write', path: '/a' }] })();
    const deleted = when(given(...up, { type: ServerDeleted.type, data: {} }), { type: 'report_files_changed', nodeId: 'n1', via: 'rest', changes: [{ op: 'write', path: '/a' }] })();

    expect([other, deleted]).toEqual([[], []]);
  });

  it('keeps a pending restart (a file change is not a fact about the run)', () => {
    const { state } = given(...up, crashed());

    const after = evolveServer(state, { type: ServerFilesChanged.type, data: { via: 'sftp', op: 'write', path: '/a', node_id: 'n1' }, time: T0 });

    expect(after.restartDueAt).toBe(state.restartDueAt);
    expect(after.restartDueAt).not.toBeNull();
  });
});

describe('decide(sub-users) (issue 14, docs/subusers.md)', () => {
  const owner = { user_id: 'u1', permissions: DEFAULT_USER_PERMISSIONS };
  const user = (id: string) => ({ user_id: id, permissions: DEFAULT_USER_PERMISSIONS });
  const addedSam: NewEvent = { type: ServerSubuserAdded.type, data: { user_id: 'sam', permissions: ['power'] } };
  const addedUna: NewEvent = { type: ServerSubuserAdded.type, data: { user_id: 'una', permissions: ['users', 'power', 'files.read'] } };

  it('records a grant, then keeps the sub-users in the state in user order', () => {
    const events = when(given(...offline), { type: 'add_subuser', id: 's1', userId: 'sam', permissions: ['power'], actor: owner })();
    const state = given(...offline, addedUna, addedSam).state;

    expect(events).toEqual([{ type: ServerSubuserAdded.type, data: { user_id: 'sam', permissions: ['power'] } }]);
    expect(state.subusers.map((u) => u.user_id)).toEqual(['sam', 'una']);
  });

  it('refuses the owner and a user who already is one (409), and a sub-user that is not there (404)', () => {
    expect(when(given(...offline), { type: 'add_subuser', id: 's1', userId: 'u1', permissions: ['power'], actor: owner })).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(when(given(...offline, addedSam), { type: 'add_subuser', id: 's1', userId: 'sam', permissions: [], actor: owner })).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(when(given(...offline), { type: 'update_subuser', id: 's1', userId: 'sam', permissions: [], actor: owner })).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    expect(when(given(...offline), { type: 'remove_subuser', id: 's1', userId: 'sam', actor: owner })).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });

  it('refuses anyone who may not manage the sub-users of this server, re-checked on the current state', () => {
    const eve = when(given(...offline), { type: 'add_subuser', id: 's1', userId: 'victor', permissions: [], actor: user('eve') });
    const sam = when(given(...offline, addedSam), { type: 'add_subuser', id: 's1', userId: 'victor', permissions: ['power'], actor: user('sam') });
    // una's `users` grant was taken away after the gateway checked her: the decider sees the current state.
    const revoked = when(given(...offline, addedUna, { type: ServerSubuserChanged.type, data: { user_id: 'una', permissions: ['power'] } }), {
      type: 'add_subuser', id: 's1', userId: 'victor', permissions: ['power'], actor: user('una'),
    });

    for (const attempt of [eve, sam, revoked]) expect(attempt).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });

  it('lets a sub-user with `users` grant only what it holds, never change its own grant, nor touch someone holding more', () => {
    const state = given(...offline, addedSam, addedUna);

    expect(when(state, { type: 'add_subuser', id: 's1', userId: 'victor', permissions: ['console'], actor: user('una') })).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    expect(types(when(state, { type: 'add_subuser', id: 's1', userId: 'victor', permissions: ['files.read'], actor: user('una') })())).toEqual([ServerSubuserAdded.type]);
    expect(when(state, { type: 'update_subuser', id: 's1', userId: 'una', permissions: ['users', 'power', 'files.read', 'console'], actor: user('una') })).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    const strong = given(...offline, addedUna, { type: ServerSubuserAdded.type, data: { user_id: 'zed', permissions: ['console'] } });
    expect(when(strong, { type: 'remove_subuser', id: 's1', userId: 'zed', actor: user('una') })).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });

  it('lets anyone leave, changes nothing for the same set, and records a removal', () => {
    const state = given(...offline, addedSam);

    expect(types(when(state, { type: 'remove_subuser', id: 's1', userId: 'sam', actor: user('sam') })())).toEqual([ServerSubuserRemoved.type]);
    expect(when(state, { type: 'update_subuser', id: 's1', userId: 'sam', permissions: ['power'], actor: owner })()).toEqual([]);
    expect(given(...offline, addedSam, { type: ServerSubuserRemoved.type, data: { user_id: 'sam' } }).state.subusers).toEqual([]);
  });

  it('keeps a pending restart (who may use the server is not a fact about the run)', () => {
    const { state } = given(...up, crashed());

    expect(evolveServer(state, { ...addedSam, time: T0 }).restartDueAt).toBe(state.restartDueAt);
  });
});
