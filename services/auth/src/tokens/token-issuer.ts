import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { UserLoggedIn, UserLoggedOut, event, type TokenPair } from '@encedeus/contracts';
import {
  ACCESS_TOKEN_ALGORITHM,
  ACCESS_TOKEN_TTL_SECONDS,
  generateRefreshToken,
  sha256Hex,
  TOKEN_ISSUER,
  type Jwks,
  type PublicJwk,
} from '@encedeus/security';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth.options';
import { AuthState } from '../state/auth-state';
import { SessionLog } from '../sessions/session-log';

interface SigningKey {
  kid: string;
  privatePem: string;
  publicPem: string;
}

/**
 * Signs access tokens (RS256, key pair generated on first start and kept in auth.signing_keys) and
 * manages refresh-token families: opaque tokens stored as SHA-256, rotated on every use.
 */
@Injectable()
export class TokenIssuer implements OnModuleInit {
  private readonly jwt = new JwtService({});
  private key!: SigningKey;
  private jwks!: Jwks;

  constructor(
    private readonly state: AuthState,
    private readonly sessions: SessionLog,
    @Inject(AUTH_OPTIONS) private readonly options: AuthModuleOptions,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.state.ready();
    this.key = await this.state.dataSource.transaction(async (em) => {
      await em.query(`select pg_advisory_xact_lock(hashtext('encedeus.auth.signing_key'))`);
      const [row] = await em.query(`select kid, private_pem, public_pem from auth.signing_keys order by created_at desc limit 1`);
      if (row) return { kid: row.kid, privatePem: row.private_pem, publicPem: row.public_pem };
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const created: SigningKey = {
        kid: randomUUID(),
        privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
        publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      };
      await em.query(`insert into auth.signing_keys (kid, private_pem, public_pem) values ($1,$2,$3)`, [created.kid, created.privatePem, created.publicPem]);
      return created;
    });
    const rows = await this.state.query<{ kid: string; public_pem: string }>(`select kid, public_pem from auth.signing_keys order by created_at desc`);
    this.jwks = {
      keys: rows.map((r) => ({ ...createPublicKey(r.public_pem).export({ format: 'jwk' }), kid: r.kid, alg: ACCESS_TOKEN_ALGORITHM, use: 'sig' }) as PublicJwk),
    };
  }

  publicJwks(): Jwks {
    return this.jwks;
  }

  signAccessToken(userId: string, familyId: string): string {
    return this.jwt.sign(
      { sub: userId, typ: 'access', fam: familyId, iatMs: Date.now() },
      { privateKey: this.key.privatePem, algorithm: ACCESS_TOKEN_ALGORITHM, keyid: this.key.kid, expiresIn: ACCESS_TOKEN_TTL_SECONDS, issuer: TOKEN_ISSUER },
    );
  }

  /** Starts a new family (a login) and records `user.logged_in` on `evt.session.<userId>`. */
  async startFamily(userId: string, method: 'password' | 'otp' | 'registration', ip?: string, correlationId?: string): Promise<TokenPair & { sequence: number }> {
    const familyId = randomUUID();
    const refreshToken = await this.storeRefresh(userId, familyId);
    const sequence = await this.sessions.record(userId, event(UserLoggedIn, { userId, method, familyId, ip }), 'user:' + userId, correlationId);
    return { accessToken: this.signAccessToken(userId, familyId), refreshToken, sequence };
  }

  /** Issues the next refresh token of a family (rotation). */
  async rotate(userId: string, familyId: string): Promise<TokenPair> {
    const refreshToken = await this.storeRefresh(userId, familyId);
    return { accessToken: this.signAccessToken(userId, familyId), refreshToken };
  }

  /** Revokes every token of a family and records `user.logged_out` on `evt.session.<userId>` (access tokens of the family die too). */
  async revokeFamily(userId: string, familyId: string, reason: 'logout' | 'refresh_token_reuse' | 'user_disabled', actor: string): Promise<number> {
    await this.state.query(`update auth.refresh_tokens set revoked_at = now() where family_id = $1 and revoked_at is null`, [familyId]);
    return this.sessions.record(userId, event(UserLoggedOut, { userId, familyId, reason }), actor);
  }

  private async storeRefresh(userId: string, familyId: string): Promise<string> {
    const token = generateRefreshToken();
    const ttl = this.options.refreshTokenTtlSeconds ?? 30 * 24 * 3600;
    await this.state.query(
      `insert into auth.refresh_tokens (id, family_id, user_id, token_hash, expires_at) values ($1,$2,$3,$4, now() + ($5 || ' seconds')::interval)`,
      [randomUUID(), familyId, userId, sha256Hex(token), String(ttl)],
    );
    return token;
  }
}
