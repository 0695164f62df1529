import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { text } from '@encedeus/contracts';
import type { Request, Response } from 'express';
import { assertCanGrant, assertCanManageUser, resolveRoleRef } from './grant-guard';
import {
  AuthVerbs,
  DomainError,
  ForbiddenError,
  NotFoundError,
  UsersVerbs,
  ValidationError,
  type ApiKeyView,
  type Page,
  type Permission,
  type UserView,
} from '@encedeus/contracts';
import { Authenticated, CurrentPrincipal, hasPermission, RequirePermission, type Principal } from '@encedeus/security';
import { commandMeta, etag } from '../common/request-meta';
import { CreateApiKeyDto, CreateServiceAccountDto, PageQuery } from './identity.dto';
import { IdentityProjection } from './identity.projection';
import { IdentityResolver } from './identity.resolver';
import { IdentityWrites } from './identity-writes';
import { assertUuid } from './users.controller';

class ListServiceAccountsQuery extends createZodDto(z.object({ limit: z.coerce.number().int().min(1).max(500).default(50), cursor: text().max(500).optional(), q: text().max(254).optional() })) {}

/** Service accounts (users flagged `serviceAccount`, no password) and API keys. */
@ApiTags('api-keys')
@Controller()
export class ApiKeysController {
  constructor(private readonly writes: IdentityWrites, private readonly projection: IdentityProjection, private readonly resolver: IdentityResolver) {}

  @RequirePermission('apikeys.manage')
  @Post('service-accounts')
  async createServiceAccount(@Body() body: CreateServiceAccountDto, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    const role = resolveRoleRef(this.projection, body);
    assertCanGrant(principal, role?.permissions ?? []);
    const account = await this.writes.send<UserView>(
      'users',
      UsersVerbs.create,
      { name: body.name, serviceAccount: true, roleIds: role ? [role.id] : [] },
      { ...commandMeta(req, principal), expectedVersion: undefined },
    );
    res.setHeader('ETag', etag(account.version));
    return account;
  }

  /** Service accounts, paginated (`?limit&cursor&q`). */
  @RequirePermission('apikeys.manage')
  @Get('service-accounts')
  listServiceAccounts(@Query() query: ListServiceAccountsQuery, @Req() req: Request, @CurrentPrincipal() principal: Principal) {
    return this.writes.query<Page<UserView>>('users', UsersVerbs.list, { ...query, service_account: 'true' }, commandMeta(req, principal));
  }

  @RequirePermission('apikeys.manage')
  @Get('service-accounts/:id')
  getServiceAccount(@Param('id') id: string, @Res({ passthrough: true }) res: Response): UserView {
    const account = this.serviceAccount(id);
    res.setHeader('ETag', etag(account.version));
    return this.projection.userView(account);
  }

  /** Deletes a service account; its API keys stop working with it (their owner is gone). */
  @RequirePermission('apikeys.manage')
  @Delete('service-accounts/:id')
  @HttpCode(204)
  async deleteServiceAccount(@Param('id') id: string, @Req() req: Request, @CurrentPrincipal() principal: Principal): Promise<void> {
    const account = this.serviceAccount(id);
    assertCanManageUser(principal, this.projection, account.id);
    await this.writes.send('users', UsersVerbs.delete, { id: account.id }, commandMeta(req, principal));
  }

  private serviceAccount(id: string) {
    const account = this.projection.users.get(assertUuid(id, 'Service account'));
    if (!account || !account.serviceAccount) throw new NotFoundError('Service account', id);
    return account;
  }

  /** Creates a key for yourself, or (with apikeys.manage) for a service account; the key is in this answer only. */
  @Authenticated()
  @Post('api-keys')
  async create(@Body() body: CreateApiKeyDto, @Req() req: Request, @CurrentPrincipal() principal: Principal) {
    let ownerId = principal.userId;
    if (body.serviceAccountId) {
      if (!hasPermission(principal, 'apikeys.manage')) throw new ForbiddenError('Missing permission apikeys.manage', { missing: ['apikeys.manage'] });
      const account = this.projection.users.get(body.serviceAccountId);
      if (!account || !account.serviceAccount) throw new DomainError('UNPROCESSABLE', 'serviceAccountId is not a service account', { fields: [{ path: 'serviceAccountId', message: 'not a service account' }] });
      ownerId = account.id;
    }
    if (body.expiresAt && Date.parse(body.expiresAt) <= Date.now()) throw new ValidationError('expiresAt is in the past', [{ path: 'expiresAt', message: 'must be in the future' }]);
    const expiresAt = this.expiryWithin(principal, body.expiresAt);
    const owner = this.projection.users.get(ownerId);
    if (!owner) throw new NotFoundError('User', ownerId);
    // A key never carries more than its owner may do, nor more than its creator holds.
    const ownerPermissions = this.projection.permissionsOf(owner);
    const missing = (body.permissions as Permission[]).filter((p) => !ownerPermissions.has(p) || !principal.permissions.has(p));
    if (missing.length) throw new ForbiddenError(`The key cannot hold ${missing.join(', ')}`, { missing });
    const key = await this.writes.send<ApiKeyView & { key: string }>(
      'auth',
      AuthVerbs.apiKeyCreate,
      { name: body.name, permissions: body.permissions, expiresAt, ownerId, serviceAccountId: body.serviceAccountId ?? null },
      { ...commandMeta(req, principal), expectedVersion: undefined },
    );
    this.resolver.rememberKey(key.key, key.id);
    return key;
  }

  /** Your keys; with apikeys.manage, everyone's. */
  @Authenticated()
  @Get('api-keys')
  list(@Query() query: PageQuery, @Req() req: Request, @CurrentPrincipal() principal: Principal) {
    const ownerId = hasPermission(principal, 'apikeys.manage') ? undefined : principal.userId;
    return this.writes.query<Page<ApiKeyView>>('auth', AuthVerbs.apiKeyList, { ...query, ownerId }, commandMeta(req, principal));
  }

  /** Revokes your key; with apikeys.manage, the key of anyone you may manage (canManageUser on its owner). */
  @Authenticated()
  @Delete('api-keys/:id')
  @HttpCode(204)
  async revoke(@Param('id') id: string, @Req() req: Request, @CurrentPrincipal() principal: Principal): Promise<void> {
    const keyId = assertUuid(id, 'API key');
    const manager = hasPermission(principal, 'apikeys.manage');
    const key = this.projection.keys.get(keyId);
    if (manager && key && key.ownerId !== principal.userId) assertCanManageUser(principal, this.projection, key.ownerId);
    await this.writes.send('auth', AuthVerbs.apiKeyRevoke, { id: keyId, ownerId: manager ? undefined : principal.userId }, commandMeta(req, principal));
  }

  /**
   * A key made by a key expires no later than its creator (issue #8 follow-up: a 60-second key
   * minted a key that never expired): no expiry given means the creator's; a later one is 422.
   */
  private expiryWithin(principal: Principal, requested: string | undefined): string | null {
    const creator = principal.kind === 'apikey' && principal.keyId ? this.projection.keys.get(principal.keyId) : undefined;
    const limit = creator?.expiresAt ?? null;
    if (limit === null) return requested ?? null;
    if (requested === undefined) return new Date(limit).toISOString();
    if (Date.parse(requested) > limit) {
      throw new ValidationError('A key made by a key cannot outlive it', [{ path: 'expiresAt', message: `must not be later than ${new Date(limit).toISOString()}` }]);
    }
    return requested;
  }
}
