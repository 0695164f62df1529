import { Controller, Inject, Logger } from '@nestjs/common';
import { Ctx, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { z } from 'zod';
import { createTemplateSchema, Subjects, updateTemplateSchema, type TemplateView } from '@encedeus/contracts';
import { CommandHandler, newAggregateId, Projector } from '@encedeus/messaging';
import { templateDecider } from '../domain/template.decider';
import { BUILT_IN_TEMPLATES } from '../domain/built-in-templates';
import { SERVICE_ACTOR } from '../domain/agent-server-spec';
import { FleetReadModel } from '../queries/fleet.read-model';
import { commandMeta } from '../common/meta';
import { visible } from '../common/read-your-writes';

const idSchema = z.object({ id: z.uuid() });

/** Commands on templates (eggs): create, update, delete; built-in ones are seeded and read-only. */
@Controller()
export class TemplateCommands {
  constructor(
    @Inject(CommandHandler) private readonly kernel: CommandHandler,
    @Inject(Projector) private readonly projector: Projector,
    @Inject(FleetReadModel) private readonly readModel: FleetReadModel,
  ) {}

  @MessagePattern(Subjects.command('nodes', 'create_template'))
  async create(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<TemplateView> {
    const t = createTemplateSchema.parse(data);
    const meta = commandMeta(ctx);
    const id = newAggregateId('create_template', meta);
    const handled = await visible(this.projector, await this.kernel.handle('template', id, templateDecider, { type: 'create', data: t, builtIn: false }, meta));
    return this.readModel.views.templateFromState(id, handled.state, handled.revision.version);
  }

  @MessagePattern(Subjects.command('nodes', 'update_template'))
  async update(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<TemplateView> {
    const { id, ...rest } = idSchema.passthrough().parse(data) as { id: string } & Record<string, unknown>;
    const patch = updateTemplateSchema.parse(rest);
    const handled = await visible(this.projector, await this.kernel.handle('template', id, templateDecider, { type: 'update', id, patch }, commandMeta(ctx)));
    return this.readModel.views.templateFromState(id, handled.state, handled.revision.version);
  }

  @MessagePattern(Subjects.command('nodes', 'delete_template'))
  async remove(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ id: string; deleted: true }> {
    const { id } = idSchema.parse(data);
    const serversUsing = await this.readModel.countServersUsingTemplate(id);
    await visible(this.projector, await this.kernel.handle('template', id, templateDecider, { type: 'delete', id, serversUsing }, commandMeta(ctx)));
    return { id, deleted: true };
  }
}

/** Appends template.created for each built-in template not in the log yet (idempotent across restarts and instances). */
export async function seedBuiltInTemplates(kernel: CommandHandler): Promise<void> {
  const logger = new Logger('TemplateCommands');
  for (const { id, ...t } of BUILT_IN_TEMPLATES) {
    const parsed = createTemplateSchema.parse(t);
    await kernel
      .handle('template', id, templateDecider, { type: 'create', data: parsed, builtIn: true }, { actor: SERVICE_ACTOR, idempotencyKey: `builtin-${id}` }, { conflictRetries: 3 })
      .catch((error) => logger.warn(`seeding template ${t.name}: ${(error as Error).message}`));
  }
}
