import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import {
  AuthVerbs,
  checkPasswordCommandSchema,
  DomainError,
  ForbiddenError,
  event,
  loginCommandSchema,
  logoutCommandSchema,
  otpVerifyCommandSchema,
  refreshCommandSchema,
  registerInitCommandSchema,
  Subjects,
  UnauthenticatedError,
  UserLoginFailed,
  UsersVerbs,
  type LoginReply,
  type TokenPair,
  type UserView,
} from '@encedeus/contracts';
import { CommandClient, metaFromHeaders } from '@encedeus/messaging';
import { sha256Hex, type Jwks } from '@encedeus/security';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth.options';
import { PasswordHasher } from '../credentials/password-hasher';
import { AuthState } from '../state/auth-state';
import { TokenIssuer } from '../tokens/token-issuer';
import { SessionLog } from '../sessions/session-log';
import { PasswordChecks } from './password-checks';
import { OneTimeCodes } from './one-time-codes';

const BAD_CREDENTIALS = 'Invalid email, username or password';
const AUTH_ACTOR = { actor: 'service:auth' };

const maskEmail = (email: string) => email.replace(/^(.)(.*)(@.*)$/, (_, a: string, b: string, c: string) => a + '*'.repeat(Math.min(b.length, 6)) + c);

/** Login (one or two steps), registration, refresh rotation, logout and the JWKS. */
@Controller()
export class LoginController {
  constructor(
    private readonly state: AuthState,
    private readonly tokens: TokenIssuer,
    private readonly codes: OneTimeCodes,
    private readonly passwords: PasswordChecks,
    private readonly sessions: SessionLog,
    private readonly commands: CommandClient,
    private readonly hasher: PasswordHasher,
    @Inject(AUTH_OPTIONS) private readonly options: AuthModuleOptions,
  ) {}

  @MessagePattern(Subjects.command('auth', AuthVerbs.jwks))
  jwks(): Jwks {
    return this.tokens.publicJwks();
  }

  @MessagePattern(Subjects.command('auth', AuthVerbs.login))
  async login(@Payload() payload: unknown, @Ctx() ctx?: NatsContext): Promise<LoginReply> {
    const { login, password, ip } = loginCommandSchema.parse(payload);
    const { correlationId } = metaFromHeaders(ctx?.getHeaders?.());
    const [cred] = await this.state.query<{ user_id: string; password_hash: string | null }>(
      `select user_id, password_hash from auth.credentials where lower(email) = lower($1) or lower(name) = lower($1) limit 1`,
      [login],
    );
    // Counted per account, not per login string: the email and the name of one user share a budget.
    const ok = await this.checked(cred?.user_id ?? `login:${login}`, ip, cred?.password_hash ?? null, password);
    if (!cred || !ok) {
      if (cred) await this.sessions.record(cred.user_id, event(UserLoginFailed, { userId: cred.user_id, reason: 'bad_password', ip }), 'user:' + cred.user_id, correlationId);
      throw new UnauthenticatedError(BAD_CREDENTIALS);
    }
    const user = await this.activeUser(cred.user_id, ip);
    if (this.options.otpRequired || user.otpEnabled) {
      await this.codes.issue('login', user.email!, { userId: user.id });
      return { otpRequired: true, message: `A 6-digit code was sent to ${maskEmail(user.email!)}; it expires in 5 minutes` };
    }
    const pair = await this.tokens.startFamily(user.id, 'password', ip, correlationId);
    return { ...pair, userId: user.id };
  }

  /** `cmd.auth.check_password`: the current password, before a change of password or email (403 when wrong). */
  @MessagePattern(Subjects.command('auth', AuthVerbs.checkPassword))
  async checkPassword(@Payload() payload: unknown): Promise<{ ok: true }> {
    const { userId, password, ip } = checkPasswordCommandSchema.parse(payload);
    const [cred] = await this.state.query<{ password_hash: string | null }>(`select password_hash from auth.credentials where user_id = $1`, [userId]);
    if (!(await this.checked(userId, ip, cred?.password_hash ?? null, password))) throw new ForbiddenError('The current password is wrong');
    return { ok: true };
  }

  @MessagePattern(Subjects.command('auth', AuthVerbs.loginVerify))
  async loginVerify(@Payload() payload: unknown, @Ctx() ctx?: NatsContext): Promise<LoginReply> {
    const { email, code, ip } = otpVerifyCommandSchema.parse(payload);
    const { correlationId } = metaFromHeaders(ctx?.getHeaders?.());
    const { userId } = await this.codes.verify<{ userId: string }>('login', email, code);
    const user = await this.activeUser(userId, ip);
    const pair = await this.tokens.startFamily(user.id, 'otp', ip, correlationId);
    return { ...pair, userId: user.id };
  }

  @MessagePattern(Subjects.command('auth', AuthVerbs.registerInit))
  async registerInit(@Payload() payload: unknown): Promise<{ message: string }> {
    if (!this.options.registrationEnabled) throw new DomainError('FEATURE_DISABLED', 'Self-registration is disabled on this installation');
    const { username, password, email } = registerInitCommandSchema.parse(payload);
    await this.assertFree(username, email);
    const passwordHash = await this.hasher.hash(password);
    await this.codes.issue('register', email, { username, email, passwordHash });
    return { message: `A 6-digit code was sent to ${maskEmail(email)}; it expires in 5 minutes` };
  }

  @MessagePattern(Subjects.command('auth', AuthVerbs.registerVerify))
  async registerVerify(@Payload() payload: unknown): Promise<TokenPair & { username: string; userId: string; sequence: number }> {
    if (!this.options.registrationEnabled) throw new DomainError('FEATURE_DISABLED', 'Self-registration is disabled on this installation');
    const { email, code, ip } = otpVerifyCommandSchema.parse(payload);
    const data = await this.codes.verify<{ username: string; email: string; passwordHash: string }>('register', email, code);
    const user = await this.commands.send<UserView & { sequence: number }>(
      'users',
      UsersVerbs.create,
      { name: data.username, email: data.email, passwordHash: data.passwordHash },
      AUTH_ACTOR,
    );
    const pair = await this.tokens.startFamily(user.id, 'registration', ip);
    return { accessToken: pair.accessToken, refreshToken: pair.refreshToken, username: user.name, userId: user.id, sequence: Math.max(user.sequence, pair.sequence) };
  }

  @MessagePattern(Subjects.command('auth', AuthVerbs.refresh))
  async refresh(@Payload() payload: unknown): Promise<TokenPair & { sequence?: number }> {
    const { refreshToken } = refreshCommandSchema.parse(payload);
    const [row] = await this.state.query<{ id: string; family_id: string; user_id: string; expired: boolean; revoked: boolean }>(
      `select id, family_id, user_id, expires_at < now() as expired,
              exists (select 1 from auth.refresh_tokens f where f.family_id = t.family_id and f.revoked_at is not null) as revoked
         from auth.refresh_tokens t where token_hash = $1`,
      [sha256Hex(refreshToken)],
    );
    if (!row || row.revoked || row.expired) throw new UnauthenticatedError('Invalid refresh token');
    // A CTE so the driver returns the updated rows (a bare UPDATE … RETURNING comes back as [rows, count]).
    const used = await this.state.query(`with spent as (update auth.refresh_tokens set used_at = now() where id = $1 and used_at is null returning id) select id from spent`, [row.id]);
    if (used.length === 0) {
      // A rotated token came back: someone holds a copy. Kill the whole family, the newest token too.
      const sequence = await this.tokens.revokeFamily(row.user_id, row.family_id, 'refresh_token_reuse', 'service:auth');
      // `sequence` lets the gateway wait until its projection has seen the revocation before answering.
      throw new DomainError('UNAUTHENTICATED', 'Refresh token reuse detected; the session was revoked', { sequence });
    }
    const user = await this.commands.send<UserView>('users', UsersVerbs.get, { id: row.user_id }, AUTH_ACTOR).catch(() => undefined);
    if (!user || user.disabled) {
      const sequence = await this.tokens.revokeFamily(row.user_id, row.family_id, 'user_disabled', 'service:auth');
      throw new DomainError('UNAUTHENTICATED', 'The account is disabled', { sequence });
    }
    return this.tokens.rotate(row.user_id, row.family_id);
  }

  @MessagePattern(Subjects.command('auth', AuthVerbs.logout))
  async logout(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<{ sequence: number }> {
    const cmd = logoutCommandSchema.parse(payload);
    const meta = metaFromHeaders(ctx.getHeaders());
    let target: { userId: string; familyId: string } | undefined;
    if (cmd.refreshToken) {
      const [row] = await this.state.query<{ user_id: string; family_id: string }>(`select user_id, family_id from auth.refresh_tokens where token_hash = $1`, [sha256Hex(cmd.refreshToken)]);
      if (row) target = { userId: row.user_id, familyId: row.family_id };
    } else if (cmd.familyId && cmd.userId) {
      target = { userId: cmd.userId, familyId: cmd.familyId };
    }
    if (!target) throw new UnauthenticatedError('Unknown session');
    const sequence = await this.tokens.revokeFamily(target.userId, target.familyId, 'logout', meta.actor);
    return { sequence };
  }

  /** A password checked under the login limiter (PasswordChecks, shared with SFTP logins). */
  private checked(account: string, ip: string | undefined, hash: string | null, password: string): Promise<boolean> {
    return this.passwords.check(account, ip, hash, password);
  }

  private async activeUser(userId: string, ip?: string): Promise<UserView> {
    let user: UserView;
    try {
      user = await this.commands.send<UserView>('users', UsersVerbs.get, { id: userId }, AUTH_ACTOR);
    } catch (error) {
      if ((error as DomainError).code === 'NOT_FOUND') throw new UnauthenticatedError(BAD_CREDENTIALS);
      throw error;
    }
    if (user.disabled || user.serviceAccount) {
      await this.sessions.record(userId, event(UserLoginFailed, { userId, reason: 'disabled', ip }), 'user:' + userId);
      throw new UnauthenticatedError('The account is disabled');
    }
    return user;
  }

  private async assertFree(name: string, email: string): Promise<void> {
    const [row] = await this.state.query<{ name_taken: boolean }>(
      `select lower(name) = lower($1) as name_taken from auth.credentials where lower(name) = lower($1) or lower(email) = lower($2) limit 1`,
      [name, email],
    );
    if (row) throw new DomainError('ALREADY_EXISTS', row.name_taken ? 'That username is taken' : 'That email is already registered', { field: row.name_taken ? 'username' : 'email' });
  }

}
