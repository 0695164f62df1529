import { canManageUser, permissionsMissingToManage, roleNameMatches } from './user-rules';

describe('canManageUser', () => {
  it('allows an actor holding every permission of the target', () => {
    const actor = new Set(['users.read', 'users.manage', 'nodes.read']);

    const allowed = canManageUser(actor, ['users.read', 'nodes.read']);

    expect(allowed).toBe(true);
  });

  it('refuses an actor missing one permission of the target, and names it', () => {
    const actor = new Set(['users.read', 'users.manage']);

    const missing = permissionsMissingToManage(actor, ['users.read', 'users.manage', 'roles.manage', 'roles.manage']);

    expect(canManageUser(actor, ['users.read', 'roles.manage'])).toBe(false);
    expect(missing).toEqual(['roles.manage']);
  });

  it('allows anyone to manage a user without permissions', () => {
    const allowed = canManageUser(new Set(), []);

    expect(allowed).toBe(true);
  });
});

describe('roleNameMatches', () => {
  it('ignores the case of ASCII letters', () => {
    const matches = roleNameMatches('ops-kit', 'OPS-Kit');

    expect(matches).toBe(true);
  });

  it('refuses names that only a Unicode case fold makes equal', () => {
    const given = ['ADMİN', 'admİn', 'ADMıN', 'ops-\u212Ait'];

    const matches = given.map((name) => roleNameMatches(name.startsWith('ops') ? 'ops-kit' : 'admin', name));

    expect(matches).toEqual([false, false, false, false]);
  });
});
