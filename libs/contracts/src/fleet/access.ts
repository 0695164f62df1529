import type { Permission } from '../permissions';

/*
 * Who may see or control a server, and see or cancel a job: the one rule for REST, sockets, files,
 * SFTP and the console's buttons. Pure and free of runtime imports, so the Angular console can
 * import this file alone.
 */

/** What can be done to a server one sees. */
export type ServerAction = 'change' | 'delete' | 'power' | 'console' | 'files.read' | 'files.write' | 'files.delete' | 'files.archive' | BackupAction;

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

/** What `servers.manage` allows by itself ("change and delete any server"); its other actions still need their permission. */
const MANAGE_ALONE_ALLOWS: ReadonlySet<ServerAction> = new Set<ServerAction>(['change', 'delete']);

/** Who asks: a user or API key with its effective permissions (a Set of permission strings). */
export interface ServerAccessPrincipal {
  readonly userId: string;
  readonly permissions: { has(permission: string): boolean };
}

/** What the rule needs of a server. */
export interface ServerOwnership {
  readonly owner_id: string;
}

/** Whether `principal` sees every server (`servers.read` or `servers.manage`), not only its own. */
export function seesEveryServer(principal: ServerAccessPrincipal | null | undefined): boolean {
  return !!principal && (principal.permissions.has('servers.read') || principal.permissions.has('servers.manage'));
}

/** Owners see their own servers; `servers.read` and `servers.manage` see every server. */
export function canSeeServer(principal: ServerAccessPrincipal | null | undefined, server: ServerOwnership): boolean {
  if (!principal) return false;
  return server.owner_id === principal.userId || seesEveryServer(principal);
}

/**
 * What `principal` lacks to do `action` to a server it sees: the action's permission (which
 * `servers.manage` replaces for `change` and `delete`), and `servers.manage` when it is not the
 * owner (seeing every server is not controlling it).
 * Empty when allowed.
 */
export function missingToControlServer(principal: ServerAccessPrincipal, server: ServerOwnership, action: ServerAction): Permission[] {
  const missing: Permission[] = [];
  const manages = principal.permissions.has('servers.manage');
  const needed = SERVER_ACTION_PERMISSION[action];
  if (!principal.permissions.has(needed) && !(manages && MANAGE_ALONE_ALLOWS.has(action))) missing.push(needed);
  if (server.owner_id !== principal.userId && !manages) missing.push('servers.manage');
  return missing;
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
