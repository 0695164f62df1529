import { Injectable, Module, type DynamicModule, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { PRINCIPAL_RESOLVER } from '@encedeus/security';
import { ApiKeysController } from './api-keys.controller';
import { AuthController } from './auth.controller';
import { IdentityProjection } from './identity.projection';
import { IdentityResolver } from './identity.resolver';
import { IdentityWrites } from './identity-writes';
import { PermissionsController } from './permissions.controller';
import { RolesController } from './roles.controller';
import { UsersController } from './users.controller';

/**
 * `GET /.well-known/jwks.json` sits outside `/api/v1` (the global prefix), so it is mounted on the
 * HTTP adapter directly. Registered in onModuleInit: after Nest's routes, before its 404 handler.
 */
@Injectable()
class WellKnownJwks implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost, private readonly resolver: IdentityResolver) {}

  onModuleInit(): void {
    const http = this.adapterHost.httpAdapter;
    if (!http) return;
    http.get('/.well-known/jwks.json', async (_req: unknown, res: { status(n: number): { json(b: unknown): void } }) => {
      try {
        res.status(200).json(await this.resolver.jwks());
      } catch {
        res.status(503).json({ error: 'The auth service is not available', code: 'SERVICE_UNAVAILABLE' });
      }
    });
  }
}

/**
 * Identity in the gateway: REST controllers of auth, users, roles, API keys and permissions, the
 * in-memory effective-permission projection, and the PrincipalResolver (exported under
 * PRINCIPAL_RESOLVER for the core's global PermissionGuard).
 */
@Module({})
export class IdentityModule {
  static forRoot(): DynamicModule {
    return {
      module: IdentityModule,
      controllers: [AuthController, UsersController, RolesController, ApiKeysController, PermissionsController],
      providers: [IdentityProjection, IdentityResolver, IdentityWrites, WellKnownJwks, { provide: PRINCIPAL_RESOLVER, useExisting: IdentityResolver }],
      exports: [PRINCIPAL_RESOLVER, IdentityProjection, IdentityResolver],
    };
  }
}
