import { canSeeServer, ForbiddenError, missingToControlServer, NotFoundError, type ServerAction, type ServerOwnership } from '@encedeus/contracts';
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

const VERBS: Record<ServerAction, string> = {
  change: 'change',
  delete: 'delete',
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
