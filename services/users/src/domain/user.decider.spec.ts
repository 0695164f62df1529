import { randomUUID } from 'node:crypto';
import type { CloudEvent, NewEvent } from '@encedeus/contracts';
import { decideUser, evolveUser, initialUserState, type UserState } from './user.decider';

const id = randomUUID();
const role = randomUUID();
let version = 0;
const recorded = (e: NewEvent): CloudEvent => ({
  specversion: '1.0', id: randomUUID(), source: 'encedeus/users', type: e.type, subject: `user/${id}`, time: new Date().toISOString(),
  datacontenttype: 'application/json', data: e.data, actor: 'system', aggregateversion: ++version,
});
const fold = (events: NewEvent[], state: UserState = initialUserState()) => events.map(recorded).reduce(evolveUser, state);
const create = () => decideUser({ kind: 'create', id, name: 'ann', email: 'ann@example.test', roleIds: [role], serviceAccount: false, otpEnabled: false }, initialUserState());

describe('decide(UpdateUser)', () => {
  it('records only the fields that change', () => {
    const state = fold(create());

    const events = decideUser({ kind: 'update', name: 'ann', email: 'new@example.test' }, state);

    expect(events).toEqual([{ type: 'user.updated', data: { userId: id, email: 'new@example.test' } }]);
  });

  it('changes nothing when nothing differs', () => {
    const state = fold(create());

    const events = decideUser({ kind: 'update', name: 'ann', roleIds: [role] }, state);

    expect(events).toEqual([]);
  });

  it('assigns roles as a separate event', () => {
    const state = fold(create());
    const other = randomUUID();

    const events = decideUser({ kind: 'update', roleIds: [other] }, state);

    expect(events).toEqual([{ type: 'user.role_assigned', data: { userId: id, roleIds: [other] } }]);
  });

  it('records a password change with the session that stays valid', () => {
    const state = fold(create());
    const session = randomUUID();

    const events = decideUser({ kind: 'update', passwordChanged: true, keptSessionId: session }, state);

    expect(events).toEqual([{ type: 'user.updated', data: { userId: id, passwordChanged: true, keptSessionId: session } }]);
  });

  it('rejects a deleted user', () => {
    const state = fold([...create(), { type: 'user.deleted', data: { userId: id } }]);

    const act = () => decideUser({ kind: 'update', disabled: true }, state);

    expect(act).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });
});

describe('decide(CreateUser)', () => {
  it('rejects an existing id', () => {
    const state = fold(create());

    const act = () => decideUser({ kind: 'create', id, name: 'x', email: null, roleIds: [], serviceAccount: true, otpEnabled: false }, state);

    expect(act).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS' }));
  });
});

describe('decide(AddSshKey / RemoveSshKey)', () => {
  const key = (keyId: string, fingerprint = 'SHA256:abc') => ({ kind: 'add_ssh_key' as const, keyId, name: 'laptop', algorithm: 'ssh-ed25519', fingerprint, publicKey: 'ssh-ed25519 AAAA' });

  it('records a new key', () => {
    const state = fold(create());
    const keyId = randomUUID();

    const events = decideUser(key(keyId), state);

    expect(events).toEqual([{ type: 'user.ssh_key_added', data: { userId: id, keyId, name: 'laptop', algorithm: 'ssh-ed25519', fingerprint: 'SHA256:abc', publicKey: 'ssh-ed25519 AAAA' } }]);
  });

  it('refuses a key the user already has with ALREADY_EXISTS', () => {
    const state = fold([...create(), ...decideUser(key(randomUUID()), fold(create()))]);

    const act = () => decideUser(key(randomUUID()), state);

    expect(act).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS' }));
  });

  it('removes a key, and answers NOT_FOUND for one it does not have', () => {
    const keyId = randomUUID();
    const state = fold([...create(), ...decideUser(key(keyId), fold(create()))]);

    const events = decideUser({ kind: 'remove_ssh_key', keyId }, state);
    const again = () => decideUser({ kind: 'remove_ssh_key', keyId }, fold(events, state));

    expect(events).toEqual([{ type: 'user.ssh_key_removed', data: { userId: id, keyId } }]);
    expect(again).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });
});
