/**
 * Who may change whom (issue #8, DESIGN.md §6): you may change another user (password, email,
 * name, disabled flag, roles, picture, deletion) only if you hold every permission they hold —
 * the same rule as granting, so nobody takes over an account stronger than their own.
 */

/** The permissions `target` holds that `actor` does not; empty when the actor may manage the target. */
export function permissionsMissingToManage(actor: ReadonlySet<string>, target: Iterable<string>): string[] {
  const missing = new Set<string>();
  for (const permission of target) if (!actor.has(permission)) missing.add(permission);
  return [...missing].sort();
}

/** True when `actor` holds every permission of `target` (and so may change that user). */
export function canManageUser(actor: ReadonlySet<string>, target: Iterable<string>): boolean {
  return permissionsMissingToManage(actor, target).length === 0;
}

/**
 * How a `role_name` names a role (issue #8 follow-up): the stored name, ignoring the case of ASCII
 * letters only. A Unicode case fold differs between places (JS `toLowerCase()` turns `İ` into
 * `i` + a combining dot, Postgres `lower()` under C.UTF-8 into `i`), so `ADMİN` named nothing in
 * the gateway's check and `admin` in the users service. ASCII folding is the same everywhere.
 */
export function roleNameKey(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** True when `given` (a `role_name` of a request) names the role stored as `stored`. */
export function roleNameMatches(stored: string, given: string): boolean {
  return roleNameKey(stored) === roleNameKey(given);
}
