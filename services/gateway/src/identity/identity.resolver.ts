import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { AuthVerbs, DomainError, UnauthenticatedError, type Permission } from '@encedeus/contracts';
import { CommandClient } from '@encedeus/messaging';
import { AccessTokenVerifier, bearerToken, hashApiKey, looksLikeApiKey, type Jwks, type Principal, type PrincipalResolver } from '@encedeus/security';
import { IdentityProjection } from './identity.projection';

const GATEWAY_ACTOR = { actor: 'service:gateway' };
const NEGATIVE_TTL_MS = 60_000;
const CACHE_LIMIT = 100_000;

/**
 * The gateway's PrincipalResolver: `Bearer <access JWT>` (verified locally with auth's JWKS) or
 * `Bearer enck_…` (an API key). Permissions come from the identity projection at every request,
 * never from the token.
 */
@Injectable()
export class IdentityResolver implements PrincipalResolver, OnApplicationBootstrap {
  readonly verifier: AccessTokenVerifier;
  /** SHA-256 of a key → its id. A key's id never changes, so entries never go stale. */
  private readonly keyIds = new Map<string, string>();
  /** Hashes auth does not know, with when to forget them (bounds lookups for garbage keys). */
  private readonly unknownKeys = new Map<string, number>();

  constructor(private readonly projection: IdentityProjection, private readonly commands: CommandClient) {
    this.verifier = new AccessTokenVerifier(() => this.commands.send<Jwks>('auth', AuthVerbs.jwks, {}, GATEWAY_ACTOR));
  }

  onApplicationBootstrap(): void {
    // Best effort: if auth is not up yet the first token verification fetches the JWKS.
    void this.verifier.refresh().catch(() => undefined);
  }

  async resolve(authorization: string | undefined): Promise<Principal | null> {
    if (!authorization) return null;
    const token = bearerToken(authorization);
    if (!token) throw new UnauthenticatedError('Authorization must be "Bearer <token>"');
    return looksLikeApiKey(token) ? this.fromApiKey(token) : this.fromAccessToken(token);
  }

  /** auth's public keys (served at /.well-known/jwks.json). */
  jwks(): Promise<Jwks> {
    return this.commands.send<Jwks>('auth', AuthVerbs.jwks, {}, GATEWAY_ACTOR);
  }

  /** Remembers a freshly created key so its first use needs no lookup. */
  rememberKey(key: string, id: string): void {
    this.keyIds.set(hashApiKey(key), id);
  }

  private async fromAccessToken(token: string): Promise<Principal> {
    const claims = await this.verifier.verify(token);
    if (this.projection.revokedSessions.has(claims.fam)) throw new UnauthenticatedError('The session has ended');
    const user = this.projection.users.get(claims.sub);
    if (!user) throw new UnauthenticatedError('The account no longer exists');
    if (user.disabled) throw new UnauthenticatedError('The account is disabled');
    const issuedAtMs = claims.iatMs ?? claims.iat * 1000;
    if (user.tokensValidAfter !== undefined && issuedAtMs < user.tokensValidAfter && claims.fam !== user.keptSessionId) {
      throw new UnauthenticatedError('The session ended when the password was changed');
    }
    return {
      kind: 'user',
      userId: user.id,
      actor: `user:${user.id}`,
      permissions: this.projection.permissionsOf(user),
      expiresAt: claims.exp,
      sessionId: claims.fam,
    };
  }

  private async fromApiKey(key: string): Promise<Principal> {
    const hash = hashApiKey(key);
    const id = this.keyIds.get(hash) ?? (await this.lookup(hash));
    const entry = this.projection.keys.get(id);
    if (!entry || entry.revoked) throw new UnauthenticatedError('The API key is revoked or unknown');
    if (entry.expiresAt !== null && entry.expiresAt <= Date.now()) throw new UnauthenticatedError('The API key has expired');
    const owner = this.projection.users.get(entry.ownerId);
    if (!owner || owner.disabled) throw new UnauthenticatedError('The owner of the API key is disabled or gone');
    // A key never carries more than its owner may do now.
    const ownerPermissions = this.projection.permissionsOf(owner);
    const permissions = new Set<Permission>(entry.permissions.filter((p) => ownerPermissions.has(p)));
    return { kind: 'apikey', userId: owner.id, keyId: id, actor: `apikey:${id}`, permissions };
  }

  private async lookup(hash: string): Promise<string> {
    const forgetAt = this.unknownKeys.get(hash);
    if (forgetAt !== undefined && forgetAt > Date.now()) throw new UnauthenticatedError('Unknown API key');
    try {
      const { id } = await this.commands.send<{ id: string }>('auth', AuthVerbs.apiKeyResolve, { keyHash: hash }, GATEWAY_ACTOR);
      if (this.keyIds.size >= CACHE_LIMIT) this.keyIds.clear();
      this.keyIds.set(hash, id);
      return id;
    } catch (error) {
      if ((error as DomainError).code === 'NOT_FOUND') {
        if (this.unknownKeys.size >= CACHE_LIMIT) this.unknownKeys.clear();
        this.unknownKeys.set(hash, Date.now() + NEGATIVE_TTL_MS);
        throw new UnauthenticatedError('Unknown API key');
      }
      throw error;
    }
  }
}
