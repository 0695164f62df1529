import type { Permission } from '../permissions';

/*
 * Who may see or control a server, and see or cancel a job: the one rule for REST, sockets, files,
 * SFTP and the console's buttons. Pure and free of runtime imports, so the Angular console can
 * import this file alone.
 */

/**
 * What can be done to a server one sees. `users`: manage its sub-users (`/servers/:id/users`).
 * `startup`: change its startup line (`PATCH /servers/:id {startup}`): `servers.manage`, or the owner
 * when the template sets `startup_editable`; never a sub-user.
 */
export type ServerAction = 'change' | 'delete' | 'users' | 'startup' | SubuserPermission;

/**
 * What an owner may grant a sub-user on one server (Pterodactyl's subusers, issue 14): every server
 * action except `change` and `delete`, which stay the owner's (and `servers.manage`'s). `users` lets
 * the sub-user manage the server's other sub-users, within what it holds itself.
 */
export type SubuserPermission = 'power' | 'console' | 'files.read' | 'files.write' | 'files.delete' | 'files.archive' | BackupAction | 'users';

/** Every SubuserPermission, in the order the console lists them. */
export const SUBUSER_PERMISSIONS: readonly SubuserPermission[] = [
  'power',
  'console',
  'files.read',
  'files.write',
  'files.delete',
  'files.archive',
  'backups.read',
  'backups.create',
  'backups.restore',
  'backups.delete',
  'users',
];

/** What can be done to a server's backups (issue 11): each needs the permission of the same name. */
export type BackupAction = 'backups.read' | 'backups.create' | 'backups.restore' | 'backups.delete';

/**
 * The permission an action needs besides ownership (or `servers.manage`). `change` and `delete` need
 * `servers.create`, the right to have servers, so a narrow API key of the owner (say `nodes.read`)
 * cannot rename, re-limit or delete the owner's servers; `servers.manage` alone allows both on any server.
 */
export const SERVER_ACTION_PERMISSION: Readonly<Record<ServerAction, Permission>> = {
  change: 'servers.create',
  delete: 'servers.create',
  startup: 'servers.create',
  users: 'servers.create',
  power: 'servers.power',
  console: 'servers.console',
  'files.read': 'files.read',
  'files.write': 'files.write',
  'files.delete': 'files.delete',
  'files.archive': 'files.archive',
  'backups.read': 'backups.read',
  'backups.create': 'backups.create',
  'backups.restore': 'backups.restore',
  'backups.delete': 'backups.delete',
};

/** What `servers.manage` allows by itself ("change and delete any server", and share it); its other actions still need their permission. */
const MANAGE_ALONE_ALLOWS: ReadonlySet<ServerAction> = new Set<ServerAction>(['change', 'delete', 'users', 'startup']);

/** Actions that stay the owner's (and `servers.manage`'s): no sub-user is ever granted them. */
const OWNER_ONLY: ReadonlySet<ServerAction> = new Set<ServerAction>(['change', 'delete', 'startup']);

/** Who asks: a user or API key with its effective permissions (a Set of permission strings). */
export interface ServerAccessPrincipal {
  readonly userId: string;
  readonly permissions: { has(permission: string): boolean };
}

/** One sub-user of a server: a user and the server actions the owner granted it. */
export interface ServerSubuser {
  readonly user_id: string;
  readonly permissions: readonly SubuserPermission[];
}

/** What the rule needs of a server: its owner and its sub-users (absent: none). */
export interface ServerOwnership {
  readonly owner_id: string;
  readonly subusers?: readonly ServerSubuser[];
  /** Whether its template lets the owner change the startup line (action `startup`). @default false */
  readonly startup_editable?: boolean;
}

/** The grant of `userId` on the server, when it is a sub-user there. */
export function subuserGrant(server: ServerOwnership, userId: string): ServerSubuser | undefined {
  return server.subusers?.find((s) => s.user_id === userId);
}

/** Whether `principal` sees every server (`servers.read` or `servers.manage`), not only its own. */
export function seesEveryServer(principal: ServerAccessPrincipal | null | undefined): boolean {
  return !!principal && (principal.permissions.has('servers.read') || principal.permissions.has('servers.manage'));
}

/** Owners and sub-users see the server; `servers.read` and `servers.manage` see every server. */
export function canSeeServer(principal: ServerAccessPrincipal | null | undefined, server: ServerOwnership): boolean {
  if (!principal) return false;
  return server.owner_id === principal.userId || subuserGrant(server, principal.userId) !== undefined || seesEveryServer(principal);
}

/**
 * What `principal` lacks to do `action` to a server it sees: the action's permission (which
 * `servers.manage` replaces for `change`, `delete` and `users`), and `servers.manage` when it is
 * neither the owner nor a sub-user granted `action` (seeing every server is not controlling it).
 * Empty when allowed.
 *
 * A sub-user needs both: the grant on this server AND the base permission in its own roles (or API
 * key). The grant widens *which servers* a permission applies to, never *which permissions* one has:
 * a sub-user granted `power` whose API key lacks `servers.power` cannot power the server.
 */
export function missingToControlServer(principal: ServerAccessPrincipal, server: ServerOwnership, action: ServerAction): Permission[] {
  const missing: Permission[] = [];
  const manages = principal.permissions.has('servers.manage');
  const needed = SERVER_ACTION_PERMISSION[action];
  if (!principal.permissions.has(needed) && !(manages && MANAGE_ALONE_ALLOWS.has(action))) missing.push(needed);
  const owns = server.owner_id === principal.userId && (action !== 'startup' || server.startup_editable === true);
  if (!owns && !manages && !grants(server, principal.userId, action)) missing.push('servers.manage');
  return missing;
}

function grants(server: ServerOwnership, userId: string, action: ServerAction): boolean {
  return !OWNER_ONLY.has(action) && (subuserGrant(server, userId)?.permissions.includes(action as SubuserPermission) ?? false);
}

/**
 * Whether `principal` receives the server's `action` stream (console lines, backup progress): it
 * sees the server and holds the action's permission; when it sees the server only as a sub-user, it
 * also needs that grant (a sub-user with only `power` gets no console lines). Owners and
 * `servers.read` read as before.
 */
export function canWatchServer(principal: ServerAccessPrincipal | null | undefined, server: ServerOwnership, action: SubuserPermission): boolean {
  if (!principal || !canSeeServer(principal, server) || !principal.permissions.has(SERVER_ACTION_PERMISSION[action])) return false;
  if (server.owner_id === principal.userId || seesEveryServer(principal)) return true;
  return grants(server, principal.userId, action);
}

/**
 * What `principal` may grant a sub-user of this server: the SubuserPermissions it may itself
 * exercise there (contracts' canControlServer). Nobody grants more than it holds, so a sub-user with
 * `users` cannot hand out (or take for itself) what it lacks.
 */
export function grantableSubuserPermissions(principal: ServerAccessPrincipal | null | undefined, server: ServerOwnership): SubuserPermission[] {
  return SUBUSER_PERMISSIONS.filter((p) => canControlServer(principal, server, p));
}

/** Whether `principal` may do `action` to the server: it sees it, holds the action's permission, and owns it or holds `servers.manage`. */
export function canControlServer(principal: ServerAccessPrincipal | null | undefined, server: ServerOwnership, action: ServerAction): boolean {
  return !!principal && canSeeServer(principal, server) && missingToControlServer(principal, server, action).length === 0;
}

/** What the job rule needs of a job. */
export interface JobOwnership {
  readonly owner_id: string;
}

/** The job's owner (a user, or any API key of that user) sees it; `jobs.read` sees every job. */
export function canSeeJob(principal: ServerAccessPrincipal | null | undefined, job: JobOwnership): boolean {
  return !!principal && (job.owner_id === principal.userId || principal.permissions.has('jobs.read'));
}

/**
 * What `principal` lacks to cancel a job it sees: nothing for the owner; `nodes.manage` for anyone
 * else (the operator of the nodes jobs run on may stop what runs there; seeing every job is not that).
 */
export function missingToCancelJob(principal: ServerAccessPrincipal, job: JobOwnership): Permission[] {
  return job.owner_id === principal.userId || principal.permissions.has('nodes.manage') ? [] : ['nodes.manage'];
}
