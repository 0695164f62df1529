import { canControlServer, canSeeServer, ForbiddenError, missingToControlServer, NotFoundError, seesEveryServer, type ServerAction, type ServerOwnership } from '@encedeus/contracts';
import type { Principal } from '@encedeus/security';

/** The server's id and owner, as REST and sockets know it. */
type Server = ServerOwnership & { readonly id: string };

/** Someone who may not see a server gets 404, not 403 (contracts' canSeeServer decides). */
export function assertCanSee(principal: Principal | null, server: Server): void {
  if (!canSeeServer(principal, server)) throw new NotFoundError('Server', server.id);
}

/** 404 when the server is hidden, 403 naming the missing permissions when it may not be controlled (contracts' canControlServer rule). */
export function assertCanControl(principal: Principal | null, server: Server, action: ServerAction): void {
  assertCanSee(principal, server);
  const missing = missingToControlServer(principal!, server, action);
  if (missing.length > 0) throw new ForbiddenError(`You may not ${VERBS[action]} this server`, { missing });
}

/**
 * The server as `principal` may read it: the whole sub-user list for whoever may manage sub-users or
 * sees every server, else only its own grant (a sub-user does not learn who else shares the server).
 */
export function serverFor<S extends ServerOwnership>(principal: Principal | null, server: S): S {
  if (!server.subusers?.length || seesEveryServer(principal) || canControlServer(principal, server, 'users')) return server;
  return { ...server, subusers: server.subusers.filter((s) => s.user_id === principal?.userId) };
}

/** The list filter of `GET /servers` (and a node's metrics): everything for `servers.read`, else the servers one owns or is a sub-user of. */
export function serverListFilter(principal: Principal): { member_id?: string } {
  return seesEveryServer(principal) ? {} : { member_id: principal.userId };
}

const VERBS: Record<ServerAction, string> = {
  change: 'change',
  delete: 'delete',
  startup: 'change the startup line of',
  users: 'manage the sub-users of',
  power: 'start, stop or kill',
  console: 'send console commands to',
  'files.read': 'read the files of',
  'files.write': 'write the files of',
  'files.delete': 'delete the files of',
  'files.archive': 'compress or extract the files of',
  'backups.read': 'see the backups of',
  'backups.create': 'back up',
  'backups.restore': 'restore a backup of',
  'backups.delete': 'delete the backups of',
};
