import { Injectable, computed, inject } from '@angular/core';
import {
  canControlServer,
  canSeeServer,
  canWatchServer,
  grantableSubuserPermissions,
  type ServerAccessPrincipal,
  type ServerAction,
  type ServerOwnership,
  type SubuserPermission,
} from '@encedeus/contracts/access';
import { Auth } from '../core/auth';

/**
 * Who may see or control a server, decided by the same contract function the gateway uses
 * (`libs/contracts/src/fleet/access.ts`), so a button is disabled exactly when the API would refuse.
 */
@Injectable({ providedIn: 'root' })
export class ServerAccess {
  private readonly auth = inject(Auth);
  private readonly principal = computed<ServerAccessPrincipal | null>(() => {
    const me = this.auth.me();
    // auth.can also honours `*` and `<area>.*` grants; reading it inside a computed tracks the permissions signal.
    return me ? { userId: me.user.id, permissions: { has: (permission: string) => this.auth.can(permission) } } : null;
  });

  /** The signed-in user's id (null when signed out). */
  userId(): string | null {
    return this.principal()?.userId ?? null;
  }

  /** Whether the signed-in user sees the server (owner, servers.read or servers.manage). */
  sees(server: ServerOwnership): boolean {
    return canSeeServer(this.principal(), server);
  }

  /** Whether the signed-in user may do `action` to the server. */
  may(server: ServerOwnership, action: ServerAction): boolean {
    return canControlServer(this.principal(), server, action);
  }

  /** Whether the signed-in user gets the server's `action` stream (console lines): a sub-user needs the grant. */
  watches(server: ServerOwnership, action: SubuserPermission): boolean {
    return canWatchServer(this.principal(), server, action);
  }

  /** What the signed-in user may grant a sub-user of this server (what it can do there itself). */
  grantable(server: ServerOwnership): SubuserPermission[] {
    return grantableSubuserPermissions(this.principal(), server);
  }
}
