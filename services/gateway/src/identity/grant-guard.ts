import { DomainError, ForbiddenError, permissionsMissingToManage, type Permission } from '@encedeus/contracts';
import type { Principal } from '@encedeus/security';
import type { IdentityProjection, RoleEntry } from './identity.projection';

/**
 * No escalation: nobody grants a permission they do not hold themselves — not through a role's
 * permission list, nor by assigning a role (e.g. `admin`) to a user or service account.
 */
export function assertCanGrant(principal: Principal, permissions: readonly string[]): void {
  const missing = permissions.filter((p) => !principal.permissions.has(p as Permission));
  if (missing.length > 0) {
    throw new ForbiddenError(`You cannot grant permissions you do not hold: ${missing.join(', ')}`, { missing });
  }
}

/**
 * The one role a `{ role_id, role_name }` body names (the schemas refuse both at once), resolved in
 * the gateway's projection by the same rule as the users service (roleNameMatches); undefined when
 * the body names none. A name or id that names no role is 422, so what the caller is checked
 * against is exactly what the users service is then told to assign (by id only).
 */
export function resolveRoleRef(projection: IdentityProjection, body: { role_id?: string; role_name?: string }): RoleEntry | undefined {
  if (body.role_id === undefined && body.role_name === undefined) return undefined;
  const role = body.role_id !== undefined ? projection.roles.get(body.role_id.toLowerCase()) : projection.roleByName(body.role_name ?? '');
  if (!role) {
    const path = body.role_id !== undefined ? 'role_id' : 'role_name';
    throw new DomainError('UNPROCESSABLE', 'The role does not exist', { fields: [{ path, message: 'unknown role' }] });
  }
  return role;
}

/**
 * You may change another user only if you hold every permission they hold (canManageUser in
 * contracts). An unknown user passes: the users service answers 404 for it.
 */
export function assertCanManageUser(principal: Principal, projection: IdentityProjection, userId: string): void {
  const target = projection.users.get(userId);
  if (!target) return;
  const missing = permissionsMissingToManage(principal.permissions, projection.permissionsOf(target));
  if (missing.length > 0) {
    throw new ForbiddenError(`You cannot change a user holding permissions you do not hold: ${missing.join(', ')}`, { missing });
  }
}

/** Changing or deleting a role changes every holder: only someone holding all of its permissions may. */
export function assertCanManageRole(principal: Principal, projection: IdentityProjection, roleId: string): void {
  const role = projection.roles.get(roleId);
  if (!role) return;
  const missing = permissionsMissingToManage(principal.permissions, role.permissions);
  if (missing.length > 0) {
    throw new ForbiddenError(`You cannot change a role holding permissions you do not hold: ${missing.join(', ')}`, { missing });
  }
}
