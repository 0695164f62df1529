import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req, Res, UseInterceptors } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { ALL_PERMISSIONS, LOCKED_VARIABLE_EDITORS, MetricsVerbs, text } from '@encedeus/contracts';
import {
  canSeeJob,
  listJobsQuerySchema,
  type JobSummary,
  ForbiddenError,
  missingToCancelJob,
  createNodeSchema,
  NotFoundError,
  createServerSchema,
  createTemplateSchema,
  pageQuerySchema,
  usageHistoryQuerySchema,
  type UsageHistory,
  powerSchema,
  runJobSchema,
  serverCommandSchema,
  updateNodeSchema,
  updateServerSchema,
  updateTemplateSchema,
  type Enrollment,
  type JobView,
  type NodeView,
  type Page,
  type ServerAction,
  type ServerView,
  type ServerSftpView,
  type TemplateView,
  type UserView,
  sftpUsername,
  UsersVerbs,
} from '@encedeus/contracts';
import { CommandClient } from '@encedeus/messaging';
import { Authenticated, CurrentPrincipal, hasPermission, RequirePermission, type Principal } from '@encedeus/security';
import { commandMeta } from '../common/request-meta';
import { UuidParam } from '../common/uuid-param';
import { VersionEtagInterceptor } from '../common/version-etag.interceptor';
import { assertCanControl, assertCanSee, serverFor, serverListFilter } from './fleet-access';
import { installLine } from '../agent-install/public-url';

class CreateNodeDto extends createZodDto(createNodeSchema) {}
class UpdateNodeDto extends createZodDto(updateNodeSchema) {}
class CreateTemplateDto extends createZodDto(createTemplateSchema) {}
class UpdateTemplateDto extends createZodDto(updateTemplateSchema) {}
class CreateServerDto extends createZodDto(createServerSchema) {}
class UpdateServerDto extends createZodDto(updateServerSchema) {}
class PowerDto extends createZodDto(powerSchema) {}
class ServerCommandDto extends createZodDto(serverCommandSchema) {}
class RunJobDto extends createZodDto(runJobSchema) {}
class UsageHistoryQuery extends createZodDto(usageHistoryQuerySchema) {}
class PageQuery extends createZodDto(pageQuerySchema.extend({ q: text().max(100).optional(), tag: text().max(64).optional() })) {}
/** `q`: part of the server's name, any case (the console's "Filter by name"). */
class ServerListQuery extends createZodDto(pageQuerySchema.extend({ node_id: z.uuid().optional(), state: text().max(20).optional(), q: text().max(100).optional() })) {}
class JobQuery extends createZodDto(z.object({ wait: z.enum(['true', 'false']).default('true') })) {}
class JobListQuery extends createZodDto(pageQuerySchema.extend(listJobsQuerySchema.shape)) {}
class EnrollmentDto extends createZodDto(z.object({ ttl_s: z.number().int().min(10).max(7 * 24 * 3600).optional() })) {}

// An id that is not a UUID is 422 (issue 8: never a 500, one pipe for every gateway route).
const uuid = UuidParam;

@ApiTags('nodes')
@Controller('nodes')
@UseInterceptors(VersionEtagInterceptor)
export class NodesController {
  constructor(private readonly commands: CommandClient) {}

  @RequirePermission('nodes.manage')
  @Post()
  async create(@Body() body: CreateNodeDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const node = await this.commands.send<NodeView & { enrollment: Enrollment }>('nodes', 'create_node', body, commandMeta(req, p));
    return { ...node, enrollment: { ...node.enrollment, command: installLine(req, node.enrollment.token) } };
  }

  @RequirePermission('nodes.read')
  @Get()
  list(@Query() query: PageQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<Page<NodeView>>('nodes', 'list_nodes', query, commandMeta(req, p));
  }

  @RequirePermission('nodes.read')
  @Get(':id')
  get(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<NodeView>('nodes', 'get_node', { id }, commandMeta(req, p));
  }

  /**
   * Latest usage in seed 001's shape `{node_id, memory_usage, memory_limit, cpu_percent}` plus load, disk, network and servers,
   * answered by the metrics service; `servers` holds only servers placed on this node that the caller sees (contracts'
   * canSeeServer: its own, or all with `servers.read`).
   */
  @RequirePermission('nodes.read')
  @Get(':id/metrics')
  async metrics(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const meta = commandMeta(req, p);
    await this.commands.send<NodeView>('nodes', 'get_node', { id }, meta);
    const serverIds: string[] = [];
    for (let cursor: string | null | undefined; ; ) {
      const page = await this.commands.send<Page<ServerView>>('nodes', 'list_servers', { node_id: id, limit: 500, ...(cursor ? { cursor } : {}), ...serverListFilter(p) }, meta);
      serverIds.push(...page.items.map((s) => s.id));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    return this.commands.send('metrics', MetricsVerbs.nodeLatest, { id, server_ids: serverIds }, meta);
  }

  /** Usage over `range` (1h, 6h, 24h, 7d, 30d) from the metrics service's samples and rollups, averaged into at most 240 points, oldest first. */
  @RequirePermission('nodes.read')
  @Get(':id/metrics/history')
  async history(@Param('id', uuid) id: string, @Query() query: UsageHistoryQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const meta = commandMeta(req, p);
    await this.commands.send<NodeView>('nodes', 'get_node', { id }, meta);
    return this.commands.send<UsageHistory>('metrics', MetricsVerbs.nodeHistory, { id, range: query.range }, meta);
  }

  @RequirePermission('nodes.manage')
  @Patch(':id')
  update(@Param('id', uuid) id: string, @Body() body: UpdateNodeDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<NodeView>('nodes', 'update_node', { ...body, id }, commandMeta(req, p));
  }

  @RequirePermission('nodes.manage')
  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<void> {
    await this.commands.send('nodes', 'delete_node', { id }, commandMeta(req, p));
  }

  @RequirePermission('nodes.manage')
  @Post(':id/drain')
  @HttpCode(200)
  drain(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<NodeView>('nodes', 'drain_node', { id }, commandMeta(req, p));
  }

  /** A new one-time enrollment token (an agent that lost its data dir). */
  @RequirePermission('nodes.manage')
  @Post(':id/enrollment')
  async enrollment(@Param('id', uuid) id: string, @Body() body: EnrollmentDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const enrollment = await this.commands.send<Enrollment>('nodes', 'issue_enrollment', { ...body, id }, commandMeta(req, p));
    // The install line names this gateway, as the operator reaches it.
    return { ...enrollment, command: installLine(req, enrollment.token) };
  }
}

@ApiTags('templates')
@Controller('templates')
@UseInterceptors(VersionEtagInterceptor)
export class TemplatesController {
  constructor(private readonly commands: CommandClient) {}

  @RequirePermission('templates.read')
  @Get()
  list(@Query() query: PageQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<Page<TemplateView>>('nodes', 'list_templates', query, commandMeta(req, p));
  }

  @RequirePermission('templates.read')
  @Get(':id')
  get(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<TemplateView>('nodes', 'get_template', { id }, commandMeta(req, p));
  }

  @RequirePermission('templates.manage')
  @Post()
  create(@Body() body: CreateTemplateDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<TemplateView>('nodes', 'create_template', body, commandMeta(req, p));
  }

  @RequirePermission('templates.manage')
  @Patch(':id')
  update(@Param('id', uuid) id: string, @Body() body: UpdateTemplateDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<TemplateView>('nodes', 'update_template', { ...body, id }, commandMeta(req, p));
  }

  @RequirePermission('templates.manage')
  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<void> {
    await this.commands.send('nodes', 'delete_template', { id }, commandMeta(req, p));
  }
}

/** Whether the caller may change template variables locked with `user_editable: false` (the nodes service refuses others with 403). */
function mayEditLockedVariables(p: Principal): boolean {
  return LOCKED_VARIABLE_EDITORS.some((permission) => hasPermission(p, permission));
}

@ApiTags('servers')
@Controller('servers')
@UseInterceptors(VersionEtagInterceptor)
export class ServersController {
  constructor(private readonly commands: CommandClient) {}

  /** Contracts' canControlServer: owners control their own servers, `servers.manage` any; hidden ones are 404. */
  private async mayControl(id: string, req: Request, p: Principal, action: ServerAction): Promise<void> {
    assertCanControl(p, await this.visible(id, req, p), action);
  }

  private async visible(id: string, req: Request, p: Principal): Promise<ServerView> {
    const server = await this.commands.send<ServerView>('nodes', 'get_server', { id }, commandMeta(req, p));
    assertCanSee(p, server);
    return server;
  }

  @RequirePermission('servers.create')
  @Post()
  create(@Body() body: CreateServerDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    // Only managers create servers for someone else.
    const owner = body.owner_id && hasPermission(p, 'servers.manage') ? body.owner_id : p.userId;
    return this.commands.send<ServerView>('nodes', 'create_server', { ...body, owner_id: owner, edit_locked_variables: mayEditLockedVariables(p) }, commandMeta(req, p), { timeoutMs: 150_000 });
  }

  /** Owners see their own servers, sub-users the servers shared with them; `servers.read` sees all. */
  @Authenticated()
  @Get()
  async list(@Query() query: ServerListQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const page = await this.commands.send<Page<ServerView>>('nodes', 'list_servers', { ...query, ...serverListFilter(p) }, commandMeta(req, p));
    return { ...page, items: page.items.map((s) => serverFor(p, s)) };
  }

  /** The server, with `sftp: { host, port, username }`: where the caller logs in over SFTP (null when its node reports no SFTP port yet). */
  @Authenticated()
  @Get(':id')
  async get(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<ServerView & { sftp: ServerSftpView | null }> {
    const server = await this.visible(id, req, p);
    return { ...serverFor(p, server), sftp: await this.sftpOf(server, req, p) };
  }

  /** The node's SFTP port (its spec) and the caller's SFTP user name on this server (`<user name>.<first 8 of the id>`). */
  private async sftpOf(server: ServerView, req: Request, p: Principal): Promise<ServerSftpView | null> {
    const meta = commandMeta(req, p);
    const [node, user] = await Promise.all([
      this.commands.send<NodeView>('nodes', 'get_node', { id: server.node_id }, meta).catch(() => null),
      this.commands.send<UserView>('users', UsersVerbs.get, { id: p.userId }, meta).catch(() => null),
    ]);
    const sftp = node?.spec?.sftp;
    if (!sftp || !user || user.serviceAccount) return null;
    return { host: sftp.host ?? node.spec?.hostname ?? '', port: sftp.port, username: sftpUsername(user.name, server.id) };
  }

  @Authenticated()
  @Patch(':id')
  async update(@Param('id', uuid) id: string, @Body() body: UpdateServerDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    await this.mayControl(id, req, p, 'change');
    // The caller goes along so the nodes service applies contracts' `startup` rule to the server's current state.
    const actor = { user_id: p.userId, permissions: ALL_PERMISSIONS.filter((permission) => p.permissions.has(permission)) };
    return this.commands.send<ServerView>('nodes', 'update_server', { ...body, id, edit_locked_variables: mayEditLockedVariables(p), actor }, commandMeta(req, p));
  }

  @Authenticated()
  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<void> {
    await this.mayControl(id, req, p, 'delete');
    await this.commands.send('nodes', 'delete_server', { id }, commandMeta(req, p), { timeoutMs: 120_000 });
  }

  /** Actions on one server are serialized by the nodes service; the answer is the state after the action. */
  @RequirePermission('servers.power')
  @Post(':id/power')
  @HttpCode(200)
  async power(@Param('id', uuid) id: string, @Body() body: PowerDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    await this.mayControl(id, req, p, 'power');
    return serverFor(p, await this.commands.send<ServerView>('nodes', 'power', { id, action: body.action }, commandMeta(req, p), { timeoutMs: 180_000 }));
  }

  @RequirePermission('servers.console')
  @Post(':id/command')
  @HttpCode(202)
  async command(@Param('id', uuid) id: string, @Body() body: ServerCommandDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    await this.mayControl(id, req, p, 'console');
    return this.commands.send('nodes', 'server_command', { id, command: body.command }, commandMeta(req, p));
  }
}

@ApiTags('jobs')
@Controller('jobs')
export class JobsController {
  constructor(private readonly commands: CommandClient) {}

  /** Waits for the result by default; `?wait=false` answers 202 with the queued job. */
  @RequirePermission('jobs.run')
  @Post()
  async run(@Body() body: RunJobDto, @Query() query: JobQuery, @Req() req: Request, @CurrentPrincipal() p: Principal, @Res({ passthrough: true }) res: Response) {
    const wait = query.wait !== 'false';
    // A job run with an API key belongs to the key's owner, as a server it creates does.
    const job = await this.commands.send<JobView>('nodes', 'run_job', { ...body, wait, owner_id: p.userId }, commandMeta(req, p), { timeoutMs: (body.timeout_ms ?? 10_000) + 30_000 });
    res.status(wait ? 200 : 202);
    return job;
  }

  /**
   * Job history, newest first: the caller's own jobs, everyone's with `jobs.read` (`owner_id`
   * narrows). Without jobs.run or jobs.read there is nothing to list (403).
   */
  @Authenticated()
  @Get()
  list(@Query() query: JobListQuery, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<Page<JobSummary>> {
    const readsAll = hasPermission(p, 'jobs.read');
    if (!readsAll && !hasPermission(p, 'jobs.run')) throw new ForbiddenError('Listing jobs needs jobs.run (your own) or jobs.read (everyone\'s)', { missing: ['jobs.run'] });
    const ownerId = readsAll ? query.owner_id : p.userId;
    return this.commands.send<Page<JobSummary>>('nodes', 'list_jobs', { ...query, ...(ownerId ? { owner_id: ownerId } : {}) }, commandMeta(req, p));
  }

  /** The owner's job, or anyone's with jobs.read; a job the caller may not see is 404. */
  @Authenticated()
  @Get(':id')
  async get(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const job = await this.commands.send<JobView>('nodes', 'get_job', { id }, commandMeta(req, p));
    if (!canSeeJob(p, job)) throw new NotFoundError('Job', id);
    return job;
  }

  /** Contracts' job rule: the owner cancels its jobs, `nodes.manage` anyone's it sees (403); hidden jobs are 404. */
  @RequirePermission('jobs.run')
  @Post(':id/cancel')
  @HttpCode(200)
  async cancel(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const job = await this.get(id, req, p);
    const missing = missingToCancelJob(p, job);
    if (missing.length > 0) throw new ForbiddenError('You may not cancel someone else\'s job', { missing });
    return this.commands.send<JobView>('nodes', 'cancel_job', { id }, commandMeta(req, p));
  }
}
