import type { Permission } from '../permissions';
import { canControlServer, canSeeJob, canSeeServer, missingToCancelJob, missingToControlServer, type ServerAction } from './access';

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
