import type { Permission } from '../permissions';
import {
  canControlServer,
  canSeeJob,
  canSeeServer,
  canWatchServer,
  grantableSubuserPermissions,
  missingToCancelJob,
  missingToControlServer,
  SUBUSER_PERMISSIONS,
  type ServerAction,
} from './access';
import { DEFAULT_USER_PERMISSIONS } from '../permissions';

const principal = (userId: string, permissions: Permission[]) => ({ userId, permissions: new Set<string>(permissions) });
const server = { owner_id: 'owner' };
const ACTIONS: ServerAction[] = ['change', 'delete', 'power', 'console', 'files.read', 'files.write', 'files.delete', 'files.archive'];

describe('canSeeServer', () => {
  it('lets the owner see its server without any permission', () => {
    expect(canSeeServer(principal('owner', []), server)).toBe(true);
  });

  it('lets servers.read or servers.manage see every server', () => {
    expect(canSeeServer(principal('eve', ['servers.read']), server)).toBe(true);
    expect(canSeeServer(principal('eve', ['servers.manage']), server)).toBe(true);
  });

  it('hides someone else\'s server from everyone else, and from nobody signed in', () => {
    expect(canSeeServer(principal('eve', ['servers.console', 'servers.power', 'files.write']), server)).toBe(false);
    expect(canSeeServer(null, server)).toBe(false);
  });
});

describe('canControlServer', () => {
  it('refuses servers.read + servers.console on someone else\'s server (issue 8)', () => {
    const eve = principal('eve', ['servers.read', 'servers.console']);

    const allowed = canControlServer(eve, server, 'console');

    expect(allowed).toBe(false);
    expect(missingToControlServer(eve, server, 'console')).toEqual(['servers.manage']);
  });

  it('lets the owner do what its permissions allow, and names what is missing', () => {
    const owner = principal('owner', ['servers.power']);

    expect(canControlServer(owner, server, 'power')).toBe(true);
    expect(canControlServer(owner, server, 'console')).toBe(false);
    expect(missingToControlServer(owner, server, 'console')).toEqual(['servers.console']);
  });

  it('lets the owner change or delete its server only with servers.create, so a narrow API key cannot (review F2)', () => {
    const narrowKey = principal('owner', ['nodes.read']);
    const owner = principal('owner', ['servers.create']);

    expect(missingToControlServer(narrowKey, server, 'change')).toEqual(['servers.create']);
    expect(missingToControlServer(narrowKey, server, 'delete')).toEqual(['servers.create']);
    expect(canControlServer(owner, server, 'change')).toBe(true);
    expect(canControlServer(owner, server, 'delete')).toBe(true);
  });

  it('lets servers.manage control any server, still needing the action\'s permission', () => {
    const manager = principal('mgr', ['servers.manage', 'servers.console']);

    expect(canControlServer(manager, server, 'console')).toBe(true);
    expect(canControlServer(manager, server, 'delete')).toBe(true);
    expect(canControlServer(manager, server, 'change')).toBe(true);
    expect(canControlServer(manager, server, 'power')).toBe(false);
  });

  it('allows nothing to someone who does not see the server', () => {
    const stranger = principal('eve', ['servers.console', 'servers.power', 'files.read', 'files.write']);

    expect(ACTIONS.map((a) => canControlServer(stranger, server, a))).toEqual(ACTIONS.map(() => false));
    expect(canControlServer(null, server, 'change')).toBe(false);
  });
});

describe('canSeeJob / missingToCancelJob', () => {
  const job = { owner_id: 'owner' };

  it('lets the owner see and cancel its job', () => {
    const owner = principal('owner', ['jobs.run']);

    expect(canSeeJob(owner, job)).toBe(true);
    expect(missingToCancelJob(owner, job)).toEqual([]);
  });

  it('lets jobs.read see every job but cancel none without nodes.manage (review F10)', () => {
    const auditor = principal('eve', ['jobs.read', 'jobs.run']);
    const operator = principal('op', ['jobs.read', 'nodes.manage']);

    expect(canSeeJob(auditor, job)).toBe(true);
    expect(missingToCancelJob(auditor, job)).toEqual(['nodes.manage']);
    expect(missingToCancelJob(operator, job)).toEqual([]);
  });

  it('hides someone else\'s job without jobs.read', () => {
    expect(canSeeJob(principal('eve', ['jobs.run', 'nodes.manage']), job)).toBe(false);
    expect(canSeeJob(null, job)).toBe(false);
  });
});

describe('sub-users (issue 14, docs/subusers.md)', () => {
  const shared = { owner_id: 'owner', subusers: [{ user_id: 'sam', permissions: ['power' as const] }, { user_id: 'una', permissions: ['users' as const, 'power' as const, 'files.read' as const] }] };
  const sam = principal('sam', DEFAULT_USER_PERMISSIONS);
  const una = principal('una', DEFAULT_USER_PERMISSIONS);

  it('lets a sub-user see the server, and nobody else who is not listed', () => {
    expect(canSeeServer(sam, shared)).toBe(true);
    expect(canSeeServer(principal('eve', DEFAULT_USER_PERMISSIONS), shared)).toBe(false);
  });

  it('lets a sub-user do exactly what it was granted', () => {
    const allowed = ([...ACTIONS, 'users', 'backups.read'] as ServerAction[]).filter((a) => canControlServer(sam, shared, a));

    expect(allowed).toEqual(['power']);
  });

  it('never lets a sub-user change or delete the server, even with a forged grant of them', () => {
    const forged = { owner_id: 'owner', subusers: [{ user_id: 'sam', permissions: ['change', 'delete'] as never[] }] };

    expect(canControlServer(sam, forged, 'change')).toBe(false);
    expect(canControlServer(sam, forged, 'delete')).toBe(false);
    expect(missingToControlServer(sam, forged, 'delete')).toEqual(['servers.manage']);
  });

  it('still needs the base permission: a sub-user\'s key without servers.power cannot power', () => {
    const key = principal('sam', ['files.read']);

    expect(missingToControlServer(key, shared, 'power')).toEqual(['servers.power']);
  });

  it('lets the grant of one server open no other server', () => {
    expect(canSeeServer(sam, server)).toBe(false);
    expect(canControlServer(sam, server, 'power')).toBe(false);
  });

  it('streams the console to a sub-user only with the console grant; owners and servers.read as before', () => {
    expect(canWatchServer(sam, shared, 'console')).toBe(false);
    expect(canWatchServer(principal('owner', ['servers.console']), shared, 'console')).toBe(true);
    expect(canWatchServer(principal('eve', ['servers.read', 'servers.console']), shared, 'console')).toBe(true);
    expect(canWatchServer(principal('sam', ['servers.power']), { owner_id: 'owner', subusers: [{ user_id: 'sam', permissions: ['console'] }] }, 'console')).toBe(false);
  });

  it('lets nobody grant more than it can do on the server itself', () => {
    expect(grantableSubuserPermissions(una, shared)).toEqual(['power', 'files.read', 'users']);
    expect(grantableSubuserPermissions(sam, shared)).toEqual(['power']);
    expect(grantableSubuserPermissions(principal('owner', DEFAULT_USER_PERMISSIONS), shared)).toEqual(SUBUSER_PERMISSIONS);
    expect(grantableSubuserPermissions(principal('owner', ['servers.power']), shared)).toEqual(['power']);
  });

  it('lets servers.manage manage sub-users of any server without servers.create', () => {
    expect(canControlServer(principal('admin', ['servers.manage']), shared, 'users')).toBe(true);
  });
});

describe("canControlServer(…, 'startup') (issue 14)", () => {
  const owner = principal('owner', DEFAULT_USER_PERMISSIONS);
  const sam = principal('sam', DEFAULT_USER_PERMISSIONS);
  const locked = { owner_id: 'owner', subusers: [{ user_id: 'sam', permissions: ['startup'] as never[] }] };
  const editable = { ...locked, startup_editable: true };

  it('lets servers.manage change the startup line of any server', () => {
    expect(canControlServer(principal('admin', ['servers.manage']), locked, 'startup')).toBe(true);
  });

  it('lets the owner change it only when the template sets startup_editable', () => {
    expect(missingToControlServer(owner, locked, 'startup')).toEqual(['servers.manage']);
    expect(canControlServer(owner, editable, 'startup')).toBe(true);
  });

  it('never lets a sub-user change it, even with a forged grant on an editable template', () => {
    expect(canControlServer(sam, editable, 'startup')).toBe(false);
  });
});
