import { Module, type DynamicModule } from '@nestjs/common';
import { ALL_PERMISSIONS, type Permission } from '@encedeus/contracts';
import { PRINCIPAL_RESOLVER, type Principal, type PrincipalResolver } from '@encedeus/security';

/**
 * A resolver for gateway tests that do not exercise identity: `Bearer all` is a principal with
 * every permission, `Bearer none` one with none. Only pure routing is isolated; NATS, Postgres and
 * HTTP stay real.
 */
export function testPrincipalModule(permissions: Permission[] = ALL_PERMISSIONS): DynamicModule {
  const resolver: PrincipalResolver = {
    async resolve(authorization) {
      if (!authorization) return null;
      const token = authorization.replace(/^Bearer\s+/i, '');
      const granted: Principal = { kind: 'user', userId: 'test', actor: 'user:test', permissions: new Set(token === 'all' ? permissions : []) };
      return granted;
    },
  };
  @Module({})
  class TestPrincipalModule {}
  return { module: TestPrincipalModule, providers: [{ provide: PRINCIPAL_RESOLVER, useValue: resolver }], exports: [PRINCIPAL_RESOLVER], global: true };
}
