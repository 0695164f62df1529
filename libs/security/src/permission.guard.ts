import { CanActivate, createParamDecorator, Inject, Injectable, SetMetadata, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ForbiddenError, UnauthenticatedError, type Permission } from '@encedeus/contracts';
import { PRINCIPAL_RESOLVER, type Principal, type PrincipalResolver } from './principal';

const PERMISSIONS_KEY = 'encedeus:permissions';
const PUBLIC_KEY = 'encedeus:public';
const AUTHENTICATED_KEY = 'encedeus:authenticated';

/** The route needs every listed permission. */
export const RequirePermission = (...permissions: Permission[]) => SetMetadata(PERMISSIONS_KEY, permissions);
/** The route needs no principal (login, health, docs). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);
/** The route needs a principal but no particular permission (e.g. `/auth/me`, `/users/me`). */
export const Authenticated = () => SetMetadata(AUTHENTICATED_KEY, true);

/** The Principal of the request (set by PermissionGuard). */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal | null => {
  return ctx.switchToHttp().getRequest().principal ?? null;
});

/**
 * Global guard: every route is denied unless it is @Public, @Authenticated, or the principal holds
 * each permission of @RequirePermission. A route with none of the three is a programming error and
 * is denied (403), so forgetting a decorator never opens a route.
 */
@Injectable()
export class PermissionGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(PRINCIPAL_RESOLVER) private readonly resolver: PrincipalResolver,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const request = context.switchToHttp().getRequest();
    const principal = await this.resolver.resolve(request.headers?.authorization);
    if (!principal) throw new UnauthenticatedError();
    request.principal = principal;
    if (this.reflector.getAllAndOverride<boolean>(AUTHENTICATED_KEY, targets)) return true;
    const required = this.reflector.getAllAndOverride<Permission[]>(PERMISSIONS_KEY, targets);
    if (!required || required.length === 0) throw new ForbiddenError('This route declares no permission');
    const missing = required.filter((p) => !principal.permissions.has(p));
    if (missing.length > 0) throw new ForbiddenError(`Missing permission ${missing.join(', ')}`, { missing });
    return true;
  }
}
