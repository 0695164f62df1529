import { ForbiddenError, type Permission } from '@encedeus/contracts';
import type { Principal } from '@encedeus/security';
import type { IdentityProjection } from './identity.projection';

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

/** The permissions a `{ role_id | role_name }` body would hand out (none when it names no role). */
export function permissionsOfRoleRef(projection: IdentityProjection, body: { role_id?: string; role_name?: string }): Permission[] {
  const role = body.role_id ? projection.roles.get(body.role_id) : body.role_name ? projection.roleByName(body.role_name) : undefined;
  return role?.permissions ?? [];
}
