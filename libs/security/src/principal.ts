import type { Permission } from '@encedeus/contracts';

/** Who is calling: a user with an access token, or an API key (of a user or a service account). */
export interface Principal {
  kind: 'user' | 'apikey';
  /** The user id, or the service account id of an API key. */
  userId: string;
  /** API key id when kind is apikey. */
  keyId?: string;
  /** `user:<id>` or `apikey:<id>`: the actor written into events. */
  actor: string;
  /** Effective permissions now (not frozen into the token). */
  permissions: ReadonlySet<Permission>;
  /** Access token expiry (seconds since epoch), when there is one. */
  expiresAt?: number;
  /** Refresh-token family (session) of an access token; logout revokes it. */
  sessionId?: string;
}

/**
 * Turns an `Authorization` header value into a Principal. Returns null when the header is absent;
 * throws UnauthenticatedError when it is present but invalid, expired, revoked or disabled.
 * The gateway provides the implementation (identity fills it in).
 */
export interface PrincipalResolver {
  resolve(authorization: string | undefined): Promise<Principal | null>;
}

export const PRINCIPAL_RESOLVER = Symbol('PRINCIPAL_RESOLVER');

export function hasPermission(principal: Principal | null | undefined, permission: Permission): boolean {
  return !!principal && principal.permissions.has(permission);
}
