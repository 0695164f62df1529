import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { createTemplateSchema, event, Subjects, TemplateCreated, updateTemplateSchema, type TemplateView } from '@encedeus/contracts';
import { FleetCore } from '../fleet-core';
import { decideDeleteTemplate, decideUpdateTemplate, templateReducer } from '../domain/template.decider';
import { BUILT_IN_TEMPLATES } from '../domain/built-in-templates';
import { SCHEMA } from '../projections/fleet.projection';
import { commandMeta } from '../common/meta';

const idSchema = z.object({ id: z.uuid() });

@Controller()
export class TemplateCommands {
  constructor(@Inject(FleetCore) private readonly fleet: FleetCore) {}

  @MessagePattern(Subjects.command('nodes', 'create_template'))
  async create(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<TemplateView> {
    const t = createTemplateSchema.parse(data);
    const id = randomUUID();
    await this.fleet.execute('template', id, templateReducer, () => [event(TemplateCreated, { ...t, built_in: false })], commandMeta(ctx));
    return this.fleet.getTemplateView(id);
  }

  @MessagePattern(Subjects.command('nodes', 'update_template'))
  async update(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<TemplateView> {
    const { id, ...rest } = idSchema.passthrough().parse(data) as { id: string } & Record<string, unknown>;
    const patch = updateTemplateSchema.parse(rest);
    await this.fleet.execute('template', id, templateReducer, (s) => decideUpdateTemplate(s, id, patch), commandMeta(ctx));
    return this.fleet.getTemplateView(id);
  }

  @MessagePattern(Subjects.command('nodes', 'delete_template'))
  async remove(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ id: string; deleted: true }> {
    const { id } = idSchema.parse(data);
    await this.fleet.execute('template', id, templateReducer, async (s) => {
      const [{ count }] = await this.fleet.db.query(`select count(*)::int as count from ${SCHEMA}.servers where template_id = $1`, [id]);
      return decideDeleteTemplate(s, id, count);
    }, commandMeta(ctx));
    return { id, deleted: true };
  }
}

/** Appends template.created for each built-in template not in the log yet (idempotent across restarts and instances). */
export async function seedBuiltInTemplates(fleet: FleetCore): Promise<void> {
  for (const { id, ...t } of BUILT_IN_TEMPLATES) {
    const parsed = createTemplateSchema.parse(t);
    await fleet
      .execute('template', id, templateReducer, (s) => (s.exists ? [] : [event(TemplateCreated, { ...parsed, built_in: true })]), {
        actor: 'service:nodes',
        idempotencyKey: `builtin-${id}`,
      })
      .catch((error) => fleet.logger.warn(`seeding template ${t.name}: ${(error as Error).message}`));
  }
}
