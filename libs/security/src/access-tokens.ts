import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { JwtService } from '@nestjs/jwt';
import { DomainError, UnauthenticatedError } from '@encedeus/contracts';

/** Lifetime of an access token (issue #3: 15 minutes). */
export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
/** Signature algorithm of access tokens: asymmetric, so any service verifies without a call. */
export const ACCESS_TOKEN_ALGORITHM = 'RS256';
export const TOKEN_ISSUER = 'encedeus';

/** Claims of an access token. Permissions are deliberately absent: they are looked up per request. */
export interface AccessTokenClaims {
  /** User id. */
  sub: string;
  typ: 'access';
  /** Refresh-token family the token was issued in; revoking the family kills the token too. */
  fam: string;
  iat: number;
  /** When issued, in ms since epoch (`iat` has whole seconds; a password change must tell a token of the same second apart). */
  iatMs?: number;
  exp: number;
}

/** A public key of the JWKS, as served at `/.well-known/jwks.json`. */
export type PublicJwk = JsonWebKey & { kid: string; alg: string; use: 'sig' };

export interface Jwks {
  keys: PublicJwk[];
}

/**
 * Verifies access tokens locally against a JWKS fetched once (and again only when a token names a
 * key id it has not seen, at most every 10 s).
 */
export class AccessTokenVerifier {
  private readonly jwt = new JwtService({});
  /** Parsed once: jsonwebtoken would otherwise re-parse a PEM on every verification. */
  private readonly keys = new Map<string, KeyObject>();
  /** Tokens whose signature was already checked, until they expire (bounded). */
  private readonly verified = new Map<string, AccessTokenClaims>();
  private lastFetch = 0;
  private fetching?: Promise<void>;

  constructor(private readonly fetchJwks: () => Promise<Jwks>) {}

  /** Loads the JWKS now (call at boot so the first request is not slower). */
  async refresh(): Promise<void> {
    this.fetching ??= (async () => {
      try {
        const jwks = await this.fetchJwks();
        for (const key of jwks.keys) {
          this.keys.set(key.kid, createPublicKey({ key: key as JsonWebKey, format: 'jwk' }));
        }
        this.lastFetch = Date.now();
      } finally {
        this.fetching = undefined;
      }
    })();
    return this.fetching;
  }

  /** The claims of a valid access token; UNAUTHENTICATED or TOKEN_EXPIRED otherwise. */
  async verify(token: string): Promise<AccessTokenClaims> {
    const known = this.verified.get(token);
    if (known) {
      if (known.exp * 1000 > Date.now()) return known;
      this.verified.delete(token);
      throw new DomainError('TOKEN_EXPIRED', 'The access token has expired');
    }
    const decoded = this.jwt.decode<{ header?: { kid?: string } } | null>(token, { complete: true });
    const kid = decoded?.header?.kid;
    if (!kid) throw new UnauthenticatedError('Invalid access token');
    if (!this.keys.has(kid) && Date.now() - this.lastFetch > 10_000) await this.refresh().catch(() => undefined);
    const publicKey = this.keys.get(kid);
    if (!publicKey) throw new UnauthenticatedError('Invalid access token');
    let claims: AccessTokenClaims;
    try {
      claims = this.jwt.verify<AccessTokenClaims>(token, { publicKey: publicKey as never, algorithms: [ACCESS_TOKEN_ALGORITHM], issuer: TOKEN_ISSUER });
    } catch (error) {
      if ((error as Error).name === 'TokenExpiredError') throw new DomainError('TOKEN_EXPIRED', 'The access token has expired');
      throw new UnauthenticatedError('Invalid access token');
    }
    if (claims.typ !== 'access' || typeof claims.sub !== 'string') throw new UnauthenticatedError('Invalid access token');
    if (this.verified.size >= 10_000) this.verified.clear();
    this.verified.set(token, claims);
    return claims;
  }
}

/** Reads `Bearer <token>` from an Authorization header value. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}
