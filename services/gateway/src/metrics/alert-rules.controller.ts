import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { AlertVerbs, createAlertRuleSchema, ForbiddenError, updateAlertRuleSchema, type AlertRuleView, type Page, type ServerView } from '@encedeus/contracts';
import { CommandClient, type CommandMeta } from '@encedeus/messaging';
import { CurrentPrincipal, hasPermission, RequirePermission, type Principal } from '@encedeus/security';
import { SubjectNames } from '../audit/subject-names';
import { commandMeta } from '../common/request-meta';
import { UuidParam } from '../common/uuid-param';
import { assertCanSee } from '../fleet/fleet-access';

class CreateAlertRuleDto extends createZodDto(createAlertRuleSchema) {}
class UpdateAlertRuleDto extends createZodDto(updateAlertRuleSchema) {}
class AlertRuleQuery extends createZodDto(z.object({ firing: z.enum(['true', 'false']).optional() })) {}

/**
 * Alert rules (issue 12, docs/metrics.md): `alerts.manage` writes, `metrics.read` reads. A rule's
 * target must be one the caller may read (`nodes.read` for a node, canSeeServer for a server); a
 * server rule is bound to the node the server is placed on (only its samples count). Reads name
 * each rule's target (`target_name`) as far as the caller may see it (SubjectNames).
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
    const page = await this.commands.send<Page<AlertRuleView>>('metrics', AlertVerbs.list, query, commandMeta(req, p));
    return { ...page, items: await this.named(page.items, p) };
  }

  @RequirePermission('metrics.read')
  @Get(':id')
  async get(@Param('id', UuidParam) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<AlertRuleView> {
    const [rule] = await this.named([await this.commands.send<AlertRuleView>('metrics', AlertVerbs.get, { id }, commandMeta(req, p))], p);
    return rule;
  }

  @RequirePermission('alerts.manage')
  @Patch(':id')
  async update(@Param('id', UuidParam) id: string, @Body() body: UpdateAlertRuleDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const meta = commandMeta(req, p);
    const placement = body.target ? await this.placement(body.target, p, meta) : {};
    return this.commands.send<AlertRuleView>('metrics', AlertVerbs.update, { ...body, ...placement, id }, meta);
  }

  @RequirePermission('alerts.manage')
  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id', UuidParam) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<void> {
    await this.commands.send('metrics', AlertVerbs.delete, { id }, commandMeta(req, p));
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
