import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req, UseInterceptors } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { createZodDto } from 'nestjs-zod';
import {
  addSubuserSchema,
  ALL_PERMISSIONS,
  canControlServer,
  DomainError,
  ForbiddenError,
  listSubusersQuerySchema,
  missingToControlServer,
  NotFoundError,
  seesEveryServer,
  updateSubuserSchema,
  UsersVerbs,
  type Page,
  type ServerView,
  type SubuserActor,
  type SubuserGrantView,
  type SubuserView,
  type UserView,
} from '@encedeus/contracts';
import { CommandClient, type CommandMeta } from '@encedeus/messaging';
import { Authenticated, CurrentPrincipal, type Principal } from '@encedeus/security';
import { commandMeta } from '../common/request-meta';
import { UuidParam } from '../common/uuid-param';
import { VersionEtagInterceptor } from '../common/version-etag.interceptor';
import { assertCanControl, assertCanSee } from './fleet-access';

class AddSubuserDto extends createZodDto(addSubuserSchema) {}
class UpdateSubuserDto extends createZodDto(updateSubuserSchema) {}
class ListSubusersQuery extends createZodDto(listSubusersQuerySchema) {}

/** The caller as the nodes service's decider re-checks it: its user and the permissions it holds now. */
function actorOf(p: Principal): SubuserActor {
  return { user_id: p.userId, permissions: ALL_PERMISSIONS.filter((permission) => p.permissions.has(permission)) };
}

/**
 * Per-server sub-users (issue 14, docs/subusers.md), `/servers/:id/users`. Contracts' rule: a hidden
 * server is 404; managing needs the `users` action (owner or `servers.manage`, or a sub-user granted
 * `users`, each also holding `servers.create`); nobody grants what it cannot do there itself. The
 * nodes service owns the grants (events on the server aggregate) and re-applies the rule to the
 * server's current state, so If-Match and concurrent changes behave as on every server route.
 */
@ApiTags('server sub-users')
@Controller('servers/:id/users')
@UseInterceptors(VersionEtagInterceptor)
export class ServerSubusersController {
  constructor(private readonly commands: CommandClient) {}

  private async server(id: string, meta: CommandMeta, p: Principal): Promise<ServerView> {
    const server = await this.commands.send<ServerView>('nodes', 'get_server', { id }, meta);
    assertCanSee(p, server);
    return server;
  }

  /** The user named by id or email; 404 when there is none. */
  private async user(body: { user_id?: string; email?: string }, meta: CommandMeta): Promise<UserView> {
    if (body.user_id) {
      return this.commands.send<UserView>('users', UsersVerbs.get, { id: body.user_id }, meta).catch((error: DomainError) => {
        throw error.code === 'NOT_FOUND' || error.code === 'VALIDATION_FAILED' ? new NotFoundError('User', body.user_id) : error;
      });
    }
    const email = body.email!;
    // The users list matches `email` as a part; the exact address (any case) is the one.
    const page = await this.commands.send<Page<UserView>>('users', UsersVerbs.list, { email, limit: 100 }, meta);
    const user = page.items.find((u) => u.email?.toLowerCase() === email);
    if (!user) throw new NotFoundError('User', email);
    return user;
  }

  private async withUser(grant: SubuserGrantView, meta: CommandMeta, known?: UserView): Promise<SubuserView> {
    const user = known ?? (await this.commands.send<UserView>('users', UsersVerbs.get, { id: grant.user_id }, meta).catch(() => null));
    return { ...grant, name: user?.name ?? null, email: user?.email ?? null };
  }

  /** `201 { server_id, user_id, name, email, permissions, version }`; 404 unknown user, 409 already a sub-user or the owner, 422 an unknown permission name, 403 granting more than one holds. */
  @Authenticated()
  @Post()
  async add(@Param('id', UuidParam) id: string, @Body() body: AddSubuserDto, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<SubuserView> {
    const meta = commandMeta(req, p);
    assertCanControl(p, await this.server(id, meta, p), 'users');
    const user = await this.user(body, meta);
    const grant = await this.commands.send<SubuserGrantView>('nodes', 'add_subuser', { id, user_id: user.id, permissions: body.permissions, actor: actorOf(p) }, meta);
    return this.withUser(grant, meta, user);
  }

  /** The server's sub-users by user id: to whoever may manage them, or sees every server. */
  @Authenticated()
  @Get()
  async list(@Param('id', UuidParam) id: string, @Query() query: ListSubusersQuery, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<Page<SubuserView>> {
    const meta = commandMeta(req, p);
    const server = await this.server(id, meta, p);
    if (!seesEveryServer(p) && !canControlServer(p, server, 'users')) {
      throw new ForbiddenError('You may not see the sub-users of this server', { missing: missingToControlServer(p, server, 'users') });
    }
    const after = server.subusers.filter((s) => !query.cursor || s.user_id > query.cursor).sort((a, b) => (a.user_id < b.user_id ? -1 : 1));
    const page = after.slice(0, query.limit);
    const items = await Promise.all(page.map((s) => this.withUser({ server_id: id, user_id: s.user_id, permissions: [...s.permissions], version: server.version }, meta)));
    return { items, nextCursor: after.length > query.limit ? page[page.length - 1].user_id : null };
  }

  /** Replaces the sub-user's permissions (If-Match: the server's version). Nobody changes its own. */
  @Authenticated()
  @Patch(':userId')
  async update(
    @Param('id', UuidParam) id: string,
    @Param('userId', UuidParam) userId: string,
    @Body() body: UpdateSubuserDto,
    @Req() req: Request,
    @CurrentPrincipal() p: Principal,
  ): Promise<SubuserView> {
    const meta = commandMeta(req, p);
    assertCanControl(p, await this.server(id, meta, p), 'users');
    const grant = await this.commands.send<SubuserGrantView>('nodes', 'update_subuser', { id, user_id: userId, permissions: body.permissions, actor: actorOf(p) }, meta);
    return this.withUser(grant, meta);
  }

  /** Takes every permission on the server away at once (a sub-user may also leave a server itself). */
  @Authenticated()
  @Delete(':userId')
  @HttpCode(204)
  async remove(@Param('id', UuidParam) id: string, @Param('userId', UuidParam) userId: string, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<void> {
    const meta = commandMeta(req, p);
    const server = await this.server(id, meta, p);
    if (userId !== p.userId) assertCanControl(p, server, 'users');
    await this.commands.send('nodes', 'remove_subuser', { id, user_id: userId, actor: actorOf(p) }, meta);
  }
}
