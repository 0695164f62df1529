import { ConflictError, DomainError, event, NotFoundError, RoleCreated, RoleDeleted, RoleUpdated, type CloudEvent, type EventData, type NewEvent } from '@encedeus/contracts';

/** State of the `role` aggregate, folded from `evt.role.<id>`. */
export interface RoleState {
  status: 'none' | 'active' | 'deleted';
  id: string;
  name: string;
  permissions: string[];
  builtIn: boolean;
}

export const initialRoleState = (): RoleState => ({ status: 'none', id: '', name: '', permissions: [], builtIn: false });

export type RoleCommand =
  | { kind: 'create'; id: string; name: string; permissions: string[]; builtIn: boolean }
  | { kind: 'update'; name?: string; permissions?: string[] }
  /** `assignedUsers`: how many users hold the role now (read by the handler). */
  | { kind: 'delete'; assignedUsers: number; force: boolean };

const sameList = (a: string[], b: string[]) => [...a].sort().join() === [...b].sort().join();

/** Decides the events of a role command. Built-in roles keep their name and cannot be deleted; admin keeps every permission. */
export function decideRole(command: RoleCommand, state: RoleState): NewEvent[] {
  if (command.kind === 'create') {
    if (state.status !== 'none') throw new DomainError('ALREADY_EXISTS', `Role ${command.id} already exists`, { id: command.id });
    return [event(RoleCreated, { roleId: command.id, name: command.name, permissions: command.permissions, builtIn: command.builtIn })];
  }
  if (state.status !== 'active') throw new NotFoundError('Role', state.id || undefined);
  if (command.kind === 'delete') {
    if (state.builtIn) throw new ConflictError(`The built-in role ${state.name} cannot be deleted`);
    if (command.assignedUsers > 0 && !command.force) {
      throw new ConflictError(`Role ${state.name} is assigned to ${command.assignedUsers} user(s); delete with ?force to unassign it`, {
        assignedUsers: command.assignedUsers,
      });
    }
    return [event(RoleDeleted, { roleId: state.id })];
  }
  const changes: EventData<typeof RoleUpdated> = { roleId: state.id };
  if (command.name !== undefined && command.name !== state.name) {
    if (state.builtIn) throw new ConflictError(`The built-in role ${state.name} cannot be renamed`);
    changes.name = command.name;
  }
  if (command.permissions !== undefined && !sameList(command.permissions, state.permissions)) {
    if (state.builtIn && state.name === 'admin') throw new ConflictError('The admin role always holds every permission');
    changes.permissions = command.permissions;
  }
  return Object.keys(changes).length > 1 ? [event(RoleUpdated, changes)] : [];
}

export function evolveRole(state: RoleState, e: CloudEvent): RoleState {
  switch (e.type) {
    case RoleCreated.type: {
      const d = e.data as EventData<typeof RoleCreated>;
      return { status: 'active', id: d.roleId, name: d.name, permissions: d.permissions, builtIn: d.builtIn };
    }
    case RoleUpdated.type: {
      const d = e.data as EventData<typeof RoleUpdated>;
      return { ...state, name: d.name ?? state.name, permissions: d.permissions ?? state.permissions };
    }
    case RoleDeleted.type:
      return { ...state, status: 'deleted' };
    default:
      return state;
  }
}

export const roleReducer = { name: 'role-v1', initialState: initialRoleState, evolve: evolveRole };
