import { randomUUID } from 'node:crypto';
import type { CloudEvent, NewEvent } from '@encedeus/contracts';
import { decideRole, evolveRole, initialRoleState } from './role.decider';

const id = randomUUID();
const recorded = (e: NewEvent, v: number): CloudEvent => ({
  specversion: '1.0', id: randomUUID(), source: 'encedeus/users', type: e.type, subject: `role/${id}`, time: new Date().toISOString(),
  datacontenttype: 'application/json', data: e.data, actor: 'system', aggregateversion: v,
});
const roleState = (name: string, builtIn: boolean) =>
  decideRole({ kind: 'create', id, name, permissions: ['users.read'], builtIn }, initialRoleState()).map(recorded).reduce(evolveRole, initialRoleState());

describe('decide(DeleteRole)', () => {
  it('refuses a role that is still assigned', () => {
    const state = roleState('ops', false);

    const act = () => decideRole({ kind: 'delete', assignedUsers: 2, force: false }, state);

    expect(act).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
  });

  it('refuses a built-in role even when forced', () => {
    const state = roleState('user', true);

    const act = () => decideRole({ kind: 'delete', assignedUsers: 0, force: true }, state);

    expect(act).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
  });
});

describe('decide(UpdateRole)', () => {
  it('keeps every permission on admin', () => {
    const state = roleState('admin', true);

    const act = () => decideRole({ kind: 'update', permissions: ['users.read', 'users.manage'] }, state);

    expect(act).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
  });

  it('replaces the permissions of a custom role', () => {
    const state = roleState('ops', false);

    const events = decideRole({ kind: 'update', permissions: ['users.manage', 'users.read'] }, state);

    expect(events).toEqual([{ type: 'role.updated', data: { roleId: id, permissions: ['users.manage', 'users.read'] } }]);
  });
});
