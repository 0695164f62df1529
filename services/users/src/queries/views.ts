import type { RoleRef, RoleView, UserView } from '@encedeus/contracts';
import type { RoleState } from '../domain/role.decider';
import type { UserState } from '../domain/user.decider';

const iso = (value: string | Date) => new Date(value).toISOString();

export function userViewFromState(state: UserState, version: number, roles: RoleRef[]): UserView {
  return {
    id: state.id,
    name: state.name,
    email: state.email,
    roles,
    disabled: state.disabled,
    serviceAccount: state.serviceAccount,
    otpEnabled: state.otpEnabled,
    hasPicture: state.picture !== null,
    createdAt: iso(state.createdAt),
    updatedAt: iso(state.updatedAt),
    version,
  };
}

export interface UserRow {
  id: string;
  name: string;
  email: string | null;
  disabled: boolean;
  service_account: boolean;
  otp_enabled: boolean;
  has_picture: boolean;
  created_at: Date;
  updated_at: Date;
  version: number;
  roles: RoleRef[];
}

export function userViewFromRow(row: UserRow): UserView {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    roles: row.roles,
    disabled: row.disabled,
    serviceAccount: row.service_account,
    otpEnabled: row.otp_enabled,
    hasPicture: row.has_picture,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    version: Number(row.version),
  };
}

export interface RoleRow {
  id: string;
  name: string;
  permissions: string[];
  built_in: boolean;
  version: number;
}

export function roleViewFromRow(row: RoleRow): RoleView {
  return { id: row.id, name: row.name, permissions: row.permissions, builtIn: row.built_in, version: Number(row.version) };
}

export function roleViewFromState(state: RoleState, version: number): RoleView {
  return { id: state.id, name: state.name, permissions: state.permissions, builtIn: state.builtIn, version };
}

/** Users with their role refs; append `where …` / `order by …` to it. */
export const USER_SELECT = `
  select u.*, coalesce(
    (select json_agg(json_build_object('id', r.id, 'name', r.name) order by r.name)
       from users.user_roles ur join users.roles r on r.id = ur.role_id where ur.user_id = u.id), '[]'::json) as roles
  from users.users u`;
