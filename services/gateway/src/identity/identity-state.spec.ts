import { randomUUID } from 'node:crypto';
import type { CloudEvent } from '@encedeus/contracts';
import { IdentityState, isIdentitySubject } from './identity-state';

const userId = randomUUID();
const roleId = randomUUID();
const keyId = randomUUID();
const familyId = randomUUID();
let version = 0;

function recorded(subject: string, type: string, data: Record<string, unknown>, time = new Date().toISOString()): CloudEvent {
  return { specversion: '1.0', id: randomUUID(), source: 'encedeus/test', type, subject, time, datacontenttype: 'application/json', data, actor: 'system', aggregateversion: ++version };
}

const created = () => recorded(`user/${userId}`, 'user.created', { userId, name: 'ada', email: null, roleIds: [roleId], serviceAccount: false, otpEnabled: false, disabled: false });
const role = () => recorded(`role/${roleId}`, 'role.created', { roleId, name: 'readers', permissions: ['users.read', 'not.a.permission'], builtIn: false });

describe('IdentityState', () => {
  beforeEach(() => (version = 0));

  it('gives a user the permissions of its roles, dropping unknown permission strings', () => {
    const state = new IdentityState();

    [created(), role()].forEach((e) => state.apply(e));

    expect([...state.permissionsOf(state.users.get(userId)!)]).toEqual(['users.read']);
  });

  it('revokes the session of a logout on the session aggregate without moving the user version', () => {
    const state = new IdentityState();
    [created()].forEach((e) => state.apply(e));

    state.apply(recorded(`session/${userId}`, 'user.logged_out', { userId, familyId, reason: 'logout' }));

    expect(state.revokedSessions.has(familyId)).toBe(true);
    expect(state.users.get(userId)!.version).toBe(1);
  });

  it('still moves the user version for session facts recorded on evt.user before the session aggregate', () => {
    const state = new IdentityState();
    [created()].forEach((e) => state.apply(e));

    state.apply(recorded(`user/${userId}`, 'user.logged_in', { userId, method: 'password', familyId, ip: '127.0.0.1' }));

    expect(state.users.get(userId)!.version).toBe(2);
  });

  it('replaces entries instead of changing them, so a reader never holds a half-updated one', () => {
    const state = new IdentityState();
    [created()].forEach((e) => state.apply(e));
    const before = state.users.get(userId)!;

    state.apply(recorded(`user/${userId}`, 'user.updated', { userId, disabled: true }));

    expect(before.disabled).toBe(false);
    expect(state.users.get(userId)!.disabled).toBe(true);
  });

  it('marks a revoked API key and refuses tokens issued before a password change', () => {
    const state = new IdentityState();
    const at = '2026-11-30T12:00:00.000Z';
    [created()].forEach((e) => state.apply(e));

    state.apply(recorded(`apikey/${keyId}`, 'apikey.created', { keyId, name: 'ci', prefix: 'enck_ab', ownerId: userId, serviceAccountId: null, permissions: ['users.read'], expiresAt: null }));
    state.apply(recorded(`apikey/${keyId}`, 'apikey.revoked', { keyId }));
    state.apply(recorded(`user/${userId}`, 'user.updated', { userId, passwordChanged: true, keptSessionId: familyId }, at));

    expect(state.keys.get(keyId)!.revoked).toBe(true);
    expect(state.users.get(userId)).toMatchObject({ tokensValidAfter: Date.parse(at), keptSessionId: familyId });
  });
});

describe('isIdentitySubject', () => {
  it('tells identity subjects from the rest without decoding', () => {
    expect(['evt.user.1', 'evt.role.1', 'evt.apikey.1', 'evt.session.1'].map(isIdentitySubject)).toEqual([true, true, true, true]);
    expect(['evt.server.1', 'evt.users.1', 'evt.user', 'tel.user.1'].map(isIdentitySubject)).toEqual([false, false, false, false]);
  });
});
