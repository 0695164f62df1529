import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { NotFoundError, UsersVerbs, type Page, type RoleView } from '@encedeus/contracts';
import { assertCanGrant, assertCanManageRole } from './grant-guard';
import { CurrentPrincipal, RequirePermission, type Principal } from '@encedeus/security';
import { commandMeta, etag } from '../common/request-meta';
import { CreateRoleDto, DeleteRoleQuery, PageQuery, UpdateRoleDto } from './identity.dto';
import { IdentityProjection } from './identity.projection';
import { IdentityWrites } from './identity-writes';
import { assertUuid } from './users.controller';

/** `/api/v1/roles`. Permission strings are checked against libs/contracts (unknown → 422). */
@ApiTags('roles')
@Controller('roles')
export class RolesController {
  constructor(private readonly writes: IdentityWrites, private readonly projection: IdentityProjection) {}

  @RequirePermission('roles.read')
  @Get()
  list(@Query() query: PageQuery, @Req() req: Request, @CurrentPrincipal() principal: Principal) {
    return this.writes.query<Page<RoleView>>('users', UsersVerbs.roleList, query, commandMeta(req, principal));
  }

  @RequirePermission('roles.read')
  @Get(':id')
  get(@Param('id') id: string, @Res({ passthrough: true }) res: Response): RoleView {
    const role = this.projection.roles.get(assertUuid(id, 'Role'));
    if (!role) throw new NotFoundError('Role', id);
    res.setHeader('ETag', etag(role.version));
    return { id: role.id, name: role.name, permissions: role.permissions, builtIn: role.builtIn, version: role.version };
  }

  @RequirePermission('roles.manage')
  @Post()
  async create(@Body() body: CreateRoleDto, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    assertCanGrant(principal, body.permissions ?? []);
    const role = await this.writes.send<RoleView>('users', UsersVerbs.roleCreate, body, { ...commandMeta(req, principal), expectedVersion: undefined });
    res.setHeader('ETag', etag(role.version));
    res.setHeader('Location', `/api/v1/roles/${role.id}`);
    return role;
  }

  @RequirePermission('roles.manage')
  @Patch(':id')
  async update(@Param('id') id: string, @Body() body: UpdateRoleDto, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    assertCanManageRole(principal, this.projection, assertUuid(id, 'Role'));
    assertCanGrant(principal, body.permissions ?? []);
    const role = await this.writes.send<RoleView>('users', UsersVerbs.roleUpdate, { ...body, id }, commandMeta(req, principal));
    res.setHeader('ETag', etag(role.version));
    return role;
  }

  /** 409 while the role is assigned, unless `?force` (then it is taken from its users first). */
  @RequirePermission('roles.manage')
  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id') id: string, @Query() query: DeleteRoleQuery, @Req() req: Request, @CurrentPrincipal() principal: Principal): Promise<void> {
    const force = query.force !== undefined && query.force !== 'false' && query.force !== '0';
    assertCanManageRole(principal, this.projection, assertUuid(id, 'Role'));
    await this.writes.send('users', UsersVerbs.roleDelete, { id, force }, commandMeta(req, principal));
  }
}
