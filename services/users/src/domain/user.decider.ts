import {
  ConflictError,
  DomainError,
  event,
  NotFoundError,
  UserCreated,
  UserDeleted,
  MAX_SSH_KEYS_PER_USER,
  UserRoleAssigned,
  UserSshKeyAdded,
  UserSshKeyRemoved,
  UserUpdated,
  ValidationError,
  type CloudEvent,
  type EventData,
  type NewEvent,
} from '@encedeus/contracts';

type PictureMeta = NonNullable<EventData<typeof UserUpdated>['picture']>;

/** State of the `user` aggregate, folded from `evt.user.<id>`. */
export interface UserState {
  status: 'none' | 'active' | 'deleted';
  id: string;
  name: string;
  email: string | null;
  roleIds: string[];
  disabled: boolean;
  serviceAccount: boolean;
  otpEnabled: boolean;
  picture: PictureMeta | null;
  /** Registered SSH public keys (id and fingerprint; the read model has the rest). */
  sshKeys: { id: string; fingerprint: string }[];
  createdAt: string;
  updatedAt: string;
}

export const initialUserState = (): UserState => ({
  status: 'none',
  id: '',
  name: '',
  email: null,
  roleIds: [],
  disabled: false,
  serviceAccount: false,
  otpEnabled: false,
  picture: null,
  sshKeys: [],
  createdAt: '',
  updatedAt: '',
});

export interface CreateUser {
  kind: 'create';
  id: string;
  name: string;
  email: string | null;
  roleIds: string[];
  serviceAccount: boolean;
  otpEnabled: boolean;
}

export interface UpdateUser {
  kind: 'update';
  name?: string;
  email?: string | null;
  disabled?: boolean;
  otpEnabled?: boolean;
  passwordChanged?: boolean;
  /** With passwordChanged: the changer's own session, which stays valid. */
  keptSessionId?: string;
  roleIds?: string[];
}

export interface SetPicture {
  kind: 'set_picture';
  picture: PictureMeta | null;
}

export interface DeleteUser {
  kind: 'delete';
}

/** Registers an SSH public key the handler parsed (algorithm, fingerprint, one-line public key). */
export interface AddSshKey {
  kind: 'add_ssh_key';
  keyId: string;
  name: string;
  algorithm: string;
  fingerprint: string;
  publicKey: string;
}

export interface RemoveSshKey {
  kind: 'remove_ssh_key';
  keyId: string;
}

export type UserCommand = CreateUser | UpdateUser | SetPicture | DeleteUser | AddSshKey | RemoveSshKey;

const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

/** Decides the events of a user command. `[]` means the command changes nothing. */
export function decideUser(command: UserCommand, state: UserState): NewEvent[] {
  if (command.kind === 'create') {
    if (state.status !== 'none') throw new DomainError('ALREADY_EXISTS', `User ${command.id} already exists`, { id: command.id });
    return [
      event(UserCreated, {
        userId: command.id,
        name: command.name,
        email: command.email,
        roleIds: [...new Set(command.roleIds)],
        serviceAccount: command.serviceAccount,
        otpEnabled: command.otpEnabled,
        disabled: false,
      }),
    ];
  }
  if (state.status !== 'active') throw new NotFoundError('User', state.id || undefined);
  switch (command.kind) {
    case 'delete':
      return [event(UserDeleted, { userId: state.id })];
    case 'set_picture':
      return [event(UserUpdated, { userId: state.id, picture: command.picture })];
    case 'add_ssh_key': {
      if (state.sshKeys.some((k) => k.id === command.keyId)) return [];
      if (state.sshKeys.some((k) => k.fingerprint === command.fingerprint)) throw new DomainError('ALREADY_EXISTS', `This key is already registered (${command.fingerprint})`, { fingerprint: command.fingerprint });
      if (state.sshKeys.length >= MAX_SSH_KEYS_PER_USER) throw new ValidationError(`A user may register at most ${MAX_SSH_KEYS_PER_USER} SSH keys`, [{ path: 'public_key', message: 'too many keys' }]);
      const { keyId, name, algorithm, fingerprint, publicKey } = command;
      return [event(UserSshKeyAdded, { userId: state.id, keyId, name, algorithm, fingerprint, publicKey })];
    }
    case 'remove_ssh_key':
      if (!state.sshKeys.some((k) => k.id === command.keyId)) throw new NotFoundError('SSH key', command.keyId);
      return [event(UserSshKeyRemoved, { userId: state.id, keyId: command.keyId })];
    case 'update': {
      if (state.serviceAccount && command.otpEnabled) throw new ConflictError('A service account cannot use two-step login');
      const changes: EventData<typeof UserUpdated> = { userId: state.id };
      if (command.name !== undefined && command.name !== state.name) changes.name = command.name;
      if (command.email !== undefined && command.email !== state.email) changes.email = command.email;
      if (command.disabled !== undefined && command.disabled !== state.disabled) changes.disabled = command.disabled;
      if (command.otpEnabled !== undefined && command.otpEnabled !== state.otpEnabled) changes.otpEnabled = command.otpEnabled;
      if (command.passwordChanged) {
        changes.passwordChanged = true;
        if (command.keptSessionId) changes.keptSessionId = command.keptSessionId;
      }
      const events: NewEvent[] = [];
      if (Object.keys(changes).length > 1) events.push(event(UserUpdated, changes));
      if (command.roleIds && !sameSet(command.roleIds, state.roleIds)) {
        events.push(event(UserRoleAssigned, { userId: state.id, roleIds: [...new Set(command.roleIds)] }));
      }
      return events;
    }
  }
}

/** Folds one event into the state. Login events only move the version. */
export function evolveUser(state: UserState, e: CloudEvent): UserState {
  const data = e.data as Record<string, unknown>;
  switch (e.type) {
    case UserCreated.type: {
      const d = data as EventData<typeof UserCreated>;
      return {
        status: 'active',
        id: d.userId,
        name: d.name,
        email: d.email,
        roleIds: d.roleIds,
        disabled: d.disabled,
        serviceAccount: d.serviceAccount,
        otpEnabled: d.otpEnabled,
        picture: null,
        sshKeys: [],
        createdAt: e.time,
        updatedAt: e.time,
      };
    }
    case UserUpdated.type: {
      const d = data as EventData<typeof UserUpdated>;
      return {
        ...state,
        name: d.name ?? state.name,
        email: d.email !== undefined ? d.email : state.email,
        disabled: d.disabled ?? state.disabled,
        otpEnabled: d.otpEnabled ?? state.otpEnabled,
        picture: d.picture !== undefined ? d.picture : state.picture,
        updatedAt: e.time,
      };
    }
    case UserRoleAssigned.type:
      return { ...state, roleIds: (data as EventData<typeof UserRoleAssigned>).roleIds, updatedAt: e.time };
    case UserSshKeyAdded.type: {
      const d = data as EventData<typeof UserSshKeyAdded>;
      return { ...state, sshKeys: [...(state.sshKeys ?? []), { id: d.keyId, fingerprint: d.fingerprint }], updatedAt: e.time };
    }
    case UserSshKeyRemoved.type:
      return { ...state, sshKeys: (state.sshKeys ?? []).filter((k) => k.id !== (data as EventData<typeof UserSshKeyRemoved>).keyId), updatedAt: e.time };
    case UserDeleted.type:
      return { ...state, status: 'deleted', updatedAt: e.time };
    default:
      return state;
  }
}

export const userReducer = { name: 'user-v2', initialState: initialUserState, evolve: evolveUser };
