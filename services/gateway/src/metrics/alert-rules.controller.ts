import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { AlertVerbs, canSeeServer, createAlertRuleSchema, ForbiddenError, NotFoundError, seesEveryServer, updateAlertRuleSchema, type AlertRuleView, type Page, type ServerView } from '@encedeus/contracts';
import { CommandClient, type CommandMeta } from '@encedeus/messaging';
import { CurrentPrincipal, hasPermission, RequirePermission, type Principal } from '@encedeus/security';
import { SubjectNames } from '../audit/subject-names';
import { commandMeta } from '../common/request-meta';
import { UuidParam } from '../common/uuid-param';
import { assertCanSee, serverListFilter } from '../fleet/fleet-access';

class CreateAlertRuleDto extends createZodDto(createAlertRuleSchema) {}
class UpdateAlertRuleDto extends createZodDto(updateAlertRuleSchema) {}
class AlertRuleQuery extends createZodDto(z.object({ firing: z.enum(['true', 'false']).optional() })) {}

/** Server ids per ask of the nodes service (its list limit). */
const SERVER_CHUNK = 500;

/**
 * Alert rules (issue 12, docs/metrics.md): `alerts.manage` writes, `metrics.read` reads. A rule's
 * target must be one the caller may read (`nodes.read` for a node, canSeeServer for a server), for
 * every route: a rule on a target the caller may not see is left out of the list and answers 404
 * like a rule that does not exist (the metrics service trusts the gateway). A server rule is bound
 * to the node the server is placed on (only its samples count). Reads name each rule's target
 * (`target_name`) as far as the caller may see it (SubjectNames).
 */
@ApiTags('alerts')
@Controller('alerts/rules')
export class AlertRulesController {
  constructor(
    private readonly commands: CommandClient,
    private readonly names: SubjectNames,
  ) {}

  @RequirePermission('alerts.manage')
  @Post()
  async create(@Body() body: CreateAlertRuleDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const meta = commandMeta(req, p);
    return this.commands.send<AlertRuleView>('metrics', AlertVerbs.create, { ...body, ...(await this.placement(body.target, p, meta)) }, meta);
  }

  @RequirePermission('metrics.read')
  @Get()
  async list(@Query() query: AlertRuleQuery, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<Page<AlertRuleView>> {
    const meta = commandMeta(req, p);
    const page = await this.commands.send<Page<AlertRuleView>>('metrics', AlertVerbs.list, query, meta);
    const mayRead = await this.readableTargets(page.items.map((r) => r.target), p, meta);
    return { ...page, items: await this.named(page.items.filter((r) => mayRead(r.target)), p) };
  }

  @RequirePermission('metrics.read')
  @Get(':id')
  async get(@Param('id', UuidParam) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<AlertRuleView> {
    const [rule] = await this.named([await this.visibleRule(id, p, commandMeta(req, p))], p);
    return rule;
  }

  @RequirePermission('alerts.manage')
  @Patch(':id')
  async update(@Param('id', UuidParam) id: string, @Body() body: UpdateAlertRuleDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const meta = commandMeta(req, p);
    await this.visibleRule(id, p, meta);
    const placement = body.target ? await this.placement(body.target, p, meta) : {};
    return this.commands.send<AlertRuleView>('metrics', AlertVerbs.update, { ...body, ...placement, id }, meta);
  }

  @RequirePermission('alerts.manage')
  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id', UuidParam) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<void> {
    const meta = commandMeta(req, p);
    await this.visibleRule(id, p, meta);
    await this.commands.send('metrics', AlertVerbs.delete, { id }, meta);
  }

  /** The rule, when the caller may see its current target; 404 as for a rule that does not exist otherwise. */
  private async visibleRule(id: string, p: Principal, meta: CommandMeta): Promise<AlertRuleView> {
    const rule = await this.commands.send<AlertRuleView>('metrics', AlertVerbs.get, { id }, meta);
    if (!(await this.readableTargets([rule.target], p, meta))(rule.target)) throw new NotFoundError('Alert rule', id);
    return rule;
  }

  /**
   * Which of `targets` the caller may read: a node with `nodes.read`, a server by contracts'
   * canSeeServer. Unless the caller sees every server, the servers are asked of the nodes service
   * once per 500 distinct ids through GET /servers' member filter. A server the fleet no longer
   * holds is hidden from all but those who see every server. An unanswered ask fails the request.
   */
  private async readableTargets(targets: string[], p: Principal, meta: CommandMeta): Promise<(target: string) => boolean> {
    const nodes = hasPermission(p, 'nodes.read');
    const everyServer = seesEveryServer(p);
    const seen = new Set<string>();
    if (!everyServer) {
      const ids = [...new Set(targets.filter((t) => t.startsWith('server:')).map((t) => t.slice('server:'.length).toLowerCase()))].filter((id) => z.uuid().safeParse(id).success);
      for (let i = 0; i < ids.length; i += SERVER_CHUNK) {
        const page = await this.commands.send<Page<ServerView>>('nodes', 'list_servers', { ids: ids.slice(i, i + SERVER_CHUNK), limit: SERVER_CHUNK, ...serverListFilter(p) }, meta);
        for (const s of page.items) if (canSeeServer(p, s)) seen.add(s.id.toLowerCase());
      }
    }
    return (target) => {
      const [kind, id = ''] = target.split(':');
      if (kind === 'node') return nodes;
      return kind === 'server' && (everyServer || seen.has(id.toLowerCase()));
    };
  }

  /** The rules with their targets' names (`node:<id>` is the subject `node/<id>`), only those the caller may see. */
  private async named(rules: AlertRuleView[], p: Principal): Promise<AlertRuleView[]> {
    const subject = (target: string) => target.replace(':', '/');
    const names = await this.names.resolve(p, rules.map((r) => subject(r.target)), []);
    return rules.map((r) => {
      const name = names.subject(subject(r.target));
      return name ? { ...r, target_name: name } : r;
    });
  }

  /** Checks the caller may read the target; a server's node id binds the rule to the samples of that node. */
  private async placement(target: string, p: Principal, meta: CommandMeta): Promise<{ node_id?: string }> {
    const [kind, id] = target.split(':');
    if (kind === 'node') {
      if (!hasPermission(p, 'nodes.read')) throw new ForbiddenError("A node's alert rule needs nodes.read", { missing: ['nodes.read'] });
      await this.commands.send('nodes', 'get_node', { id }, meta);
      return {};
    }
    const server = await this.commands.send<ServerView>('nodes', 'get_server', { id }, meta);
    assertCanSee(p, server);
    return { node_id: server.node_id };
  }
}
