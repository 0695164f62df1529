import { ForbiddenError, NotFoundError, type Permission, type ServerView } from '@encedeus/contracts';
import { hasPermission, type Principal } from '@encedeus/security';

/**
 * Server visibility: owners see and use their own servers; `servers.read` sees every server;
 * changing someone else's needs `servers.manage`. Someone who may not see a server gets 404, not 403.
 */
export function assertCanSee(principal: Principal | null, server: ServerView): void {
  if (!principal) throw new NotFoundError('Server', server.id);
  if (server.owner_id === principal.userId) return;
  if (hasPermission(principal, 'servers.read') || hasPermission(principal, 'servers.manage')) return;
  throw new NotFoundError('Server', server.id);
}

export function assertCanChange(principal: Principal | null, server: ServerView, action: string): void {
  assertCanSee(principal, server);
  if (server.owner_id === principal!.userId || hasPermission(principal, 'servers.manage')) return;
  throw new ForbiddenError(`Only the owner or someone with servers.manage may ${action} this server`, { missing: ['servers.manage' as Permission] });
}
