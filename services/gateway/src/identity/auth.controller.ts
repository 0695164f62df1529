import { Body, Controller, Get, HttpCode, Post, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { AuthVerbs, UnauthenticatedError, type LoginReply, type TokenPair } from '@encedeus/contracts';
import { Authenticated, bearerToken, CurrentPrincipal, looksLikeApiKey, Public, type Principal } from '@encedeus/security';
import { commandMeta } from '../common/request-meta';
import { LoginDto, LogoutDto, OtpVerifyDto, RegisterInitDto } from './identity.dto';
import { IdentityProjection } from './identity.projection';
import { IdentityResolver } from './identity.resolver';
import { IdentityWrites } from './identity-writes';

const tokensOnly = (reply: LoginReply) => ('otpRequired' in reply ? reply : { accessToken: reply.accessToken, refreshToken: reply.refreshToken });

/** `/api/v1/auth/*`: login (one or two steps), registration, refresh, logout, me. */
@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(private readonly writes: IdentityWrites, private readonly projection: IdentityProjection, private readonly resolver: IdentityResolver) {}

  @Public()
  @HttpCode(200)
  @Post('login')
  async login(@Body() body: LoginDto, @Req() req: Request) {
    const reply = await this.writes.send<LoginReply>('auth', AuthVerbs.login, { login: body.email ?? body.username, password: body.password, ip: req.ip }, commandMeta(req, null));
    return tokensOnly(reply);
  }

  /** Seed 001's name of the first step. */
  @Public()
  @HttpCode(200)
  @Post('login/init')
  loginInit(@Body() body: LoginDto, @Req() req: Request) {
    return this.login(body, req);
  }

  @Public()
  @HttpCode(200)
  @Post('login/verify')
  async loginVerify(@Body() body: OtpVerifyDto, @Req() req: Request) {
    return tokensOnly(await this.writes.send<LoginReply>('auth', AuthVerbs.loginVerify, { ...body, ip: req.ip }, commandMeta(req, null)));
  }

  @Public()
  @HttpCode(200)
  @Post('register/init')
  registerInit(@Body() body: RegisterInitDto, @Req() req: Request) {
    return this.writes.send<{ message: string }>('auth', AuthVerbs.registerInit, { ...body, ip: req.ip }, commandMeta(req, null));
  }

  @Public()
  @HttpCode(200)
  @Post('register/verify')
  async registerVerify(@Body() body: OtpVerifyDto, @Req() req: Request) {
    const reply = await this.writes.send<TokenPair & { username: string }>('auth', AuthVerbs.registerVerify, { ...body, ip: req.ip }, commandMeta(req, null));
    return { accessToken: reply.accessToken, refreshToken: reply.refreshToken, username: reply.username };
  }

  /** `Authorization: Bearer <refresh token>` → a new pair; the presented token is spent. */
  @Public()
  @Get('refresh')
  refresh(@Req() req: Request) {
    const refreshToken = bearerToken(req.headers.authorization);
    if (!refreshToken) throw new UnauthenticatedError('Send the refresh token as "Authorization: Bearer <refresh token>"');
    return this.writes.send<TokenPair>('auth', AuthVerbs.refresh, { refreshToken, ip: req.ip }, commandMeta(req, null));
  }

  @Public()
  @HttpCode(200)
  @Post('refresh')
  refreshPost(@Req() req: Request) {
    return this.refresh(req);
  }

  /** Ends the session: by `{refreshToken}` in the body, or by the bearer (refresh token or access token). */
  @Public()
  @HttpCode(204)
  @Post('logout')
  async logout(@Body() body: LogoutDto, @Req() req: Request): Promise<void> {
    const bearer = bearerToken(req.headers.authorization);
    let command: Record<string, string>;
    if (body?.refreshToken) command = { refreshToken: body.refreshToken };
    else if (bearer && bearer.startsWith('encr_')) command = { refreshToken: bearer };
    else if (bearer && !looksLikeApiKey(bearer)) {
      const claims = await this.resolver.verifier.verify(bearer);
      command = { familyId: claims.fam, userId: claims.sub };
    } else throw new UnauthenticatedError('Send the refresh token or the access token of the session');
    await this.writes.send('auth', AuthVerbs.logout, command, commandMeta(req, null));
  }

  /** The JWKS also under the API prefix (the canonical place is /.well-known/jwks.json). */
  @Public()
  @Get('jwks')
  jwks() {
    return this.resolver.jwks();
  }

  /** The caller: user, roles and effective permissions now (for an API key, its own scoped set). */
  @Authenticated()
  @Get('me')
  me(@CurrentPrincipal() principal: Principal) {
    const user = this.projection.users.get(principal.userId);
    if (!user) throw new UnauthenticatedError('The account no longer exists');
    const roles = user.roleIds
      .map((id) => this.projection.roles.get(id))
      .filter((r) => !!r)
      .map((r) => ({ id: r!.id, name: r!.name, permissions: r!.permissions }));
    return {
      user: this.projection.userView(user),
      roles,
      permissions: [...principal.permissions].sort(),
      via: principal.kind === 'apikey' ? { kind: 'apikey', keyId: principal.keyId } : { kind: 'user' },
    };
  }
}
