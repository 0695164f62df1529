import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { z } from 'zod';
import { POWER_ACTIONS, serverCommandSchema, Subjects, type ServerView } from '@encedeus/contracts';
import { ServerOps } from '../servers/server-ops';
import { commandMeta } from '../common/meta';

const idSchema = z.object({ id: z.uuid() });

@Controller()
export class ServerCommands {
  constructor(@Inject(ServerOps) private readonly servers: ServerOps) {}

  @MessagePattern(Subjects.command('nodes', 'create_server'))
  create(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<ServerView> {
    return this.servers.create(data, commandMeta(ctx));
  }

  @MessagePattern(Subjects.command('nodes', 'update_server'))
  update(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<ServerView> {
    const { id, ...patch } = idSchema.passthrough().parse(data) as { id: string } & Record<string, unknown>;
    return this.servers.update(id, patch, commandMeta(ctx));
  }

  @MessagePattern(Subjects.command('nodes', 'delete_server'))
  remove(@Payload() data: unknown, @Ctx() ctx: NatsContext) {
    return this.servers.remove(idSchema.parse(data).id, commandMeta(ctx));
  }

  @MessagePattern(Subjects.command('nodes', 'power'))
  power(@Payload() data: unknown, @Ctx() ctx: NatsContext) {
    const { id, action } = idSchema.extend({ action: z.enum(POWER_ACTIONS) }).parse(data);
    return this.servers.power(id, action, commandMeta(ctx));
  }

  @MessagePattern(Subjects.command('nodes', 'server_command'))
  command(@Payload() data: unknown) {
    const { id, command } = idSchema.extend(serverCommandSchema.shape).parse(data);
    return this.servers.command(id, command);
  }
}
