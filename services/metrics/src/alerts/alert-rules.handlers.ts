import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { AlertVerbs, createAlertRuleSchema, NotFoundError, Subjects, text, updateAlertRuleSchema, type AlertRuleView, type Page } from '@encedeus/contracts';
import { CommandHandler, metaFromHeaders, newAggregateId, Projector, type Handled } from '@encedeus/messaging';
import { alertRuleDecider, type AlertRuleState } from '../domain/alert-rule.decider';
import { SCHEMA } from '../storage/metrics-store';
import { ALERT_PROJECTOR } from '../metrics.options';

const idSchema = z.object({ id: z.uuid() });
const nodeIdSchema = z.object({ node_id: z.uuid().optional() });

/** Alert rules (`cmd.metrics.*_alert_rule`): kernel writes, reads from `metrics.alert_rules`. The gateway checked who may. */
@Controller()
export class AlertRulesHandlers {
  constructor(
    @Inject(CommandHandler) private readonly kernel: CommandHandler,
    @Inject(ALERT_PROJECTOR) private readonly projector: Projector,
    @Inject(DataSource) private readonly db: DataSource,
  ) {}

  @MessagePattern(Subjects.command('metrics', AlertVerbs.create))
  async create(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<AlertRuleView> {
    const rule = createAlertRuleSchema.extend(nodeIdSchema.shape).parse(data);
    const meta = metaFromHeaders(ctx.getHeaders?.());
    const id = newAggregateId(AlertVerbs.create, meta);
    await this.visible(await this.kernel.handle('alert', id, alertRuleDecider, { type: 'create', id, rule }, meta));
    return this.view(id);
  }

  @MessagePattern(Subjects.command('metrics', AlertVerbs.update))
  async update(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<AlertRuleView> {
    const { id, ...changes } = z.object({ id: z.uuid() }).and(updateAlertRuleSchema.and(nodeIdSchema)).parse(data);
    await this.visible(await this.kernel.handle('alert', id, alertRuleDecider, { type: 'update', id, changes, at: new Date().toISOString() }, metaFromHeaders(ctx.getHeaders?.())));
    return this.view(id);
  }

  @MessagePattern(Subjects.command('metrics', AlertVerbs.delete))
  async remove(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<void> {
    const { id } = idSchema.parse(data);
    await this.visible(await this.kernel.handle('alert', id, alertRuleDecider, { type: 'delete', id, at: new Date().toISOString() }, metaFromHeaders(ctx.getHeaders?.())));
  }

  @MessagePattern(Subjects.command('metrics', AlertVerbs.get))
  get(@Payload() data: unknown): Promise<AlertRuleView> {
    return this.view(idSchema.parse(data).id);
  }

  /** Rules by name; `firing=true` only the raised ones (the console's alert list). */
  @MessagePattern(Subjects.command('metrics', AlertVerbs.list))
  async list(@Payload() data: unknown): Promise<Page<AlertRuleView>> {
    const q = z.object({ firing: z.enum(['true', 'false']).optional(), target: text().max(100).optional() }).parse(data ?? {});
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.firing) where.push(`firing = $${params.push(q.firing === 'true')}`);
    if (q.target) where.push(`target = $${params.push(q.target.toLowerCase())}`);
    const rows = await this.db.query(`select * from ${SCHEMA}.alert_rules ${where.length ? 'where ' + where.join(' and ') : ''} order by name, id limit 1000`, params);
    return { items: rows.map(toView), nextCursor: null };
  }

  private async visible(handled: Handled<AlertRuleState>): Promise<void> {
    if (handled.events.length > 0) await this.projector.waitFor(handled.revision.sequence, 5000);
  }

  private async view(id: string): Promise<AlertRuleView> {
    const [row] = await this.db.query(`select * from ${SCHEMA}.alert_rules where id = $1`, [id]);
    if (!row) throw new NotFoundError('Alert rule', id);
    return toView(row);
  }
}

function toView(r: Record<string, any>): AlertRuleView {
  return {
    id: r.id,
    name: r.name,
    target: r.target,
    field: r.field,
    comparator: r.comparator,
    threshold: Number(r.threshold),
    for_s: Number(r.for_s),
    firing: Boolean(r.firing),
    raised_at: r.raised_at ? new Date(r.raised_at).toISOString() : null,
    version: Number(r.version),
    createdAt: new Date(r.created_at).toISOString(),
  };
}
