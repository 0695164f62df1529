import { randomUUID } from 'node:crypto';
import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import {
  createRoleBodySchema,
  DomainError,
  PreconditionFailedError,
  roleIdCommandSchema,
  Subjects,
  updateRoleCommandSchema,
  UsersVerbs,
  type RoleView,
  type WriteReply,
} from '@encedeus/contracts';
import { EventStore, metaFromHeaders } from '@encedeus/messaging';
import { AggregateRunner, type Executed } from '../common/aggregate-runner';
import { ReadModel } from '../common/read-model';
import { decideRole, roleReducer, type RoleState } from '../domain/role.decider';
import { decideUser, userReducer } from '../domain/user.decider';
import { roleViewFromState } from '../queries/views';

/** Commands of the `role` aggregate. Role names are unique (checked under a lock against the read model). */
@Controller()
export class RoleCommandsController {
  constructor(private readonly runner: AggregateRunner, private readonly readModel: ReadModel, private readonly store: EventStore) {}

  @MessagePattern(Subjects.command('users', UsersVerbs.roleCreate))
  async create(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<WriteReply<RoleView>> {
    const cmd = createRoleBodySchema.parse(payload);
    const meta = { ...metaFromHeaders(ctx.getHeaders()), expectedVersion: undefined };
    return this.runner.lock('role-names', async () => {
      await this.assertNameFree(cmd.name);
      const id = randomUUID();
      const result = await this.runner.execute('role', id, roleReducer, meta, (state) =>
        decideRole({ kind: 'create', id, name: cmd.name, permissions: cmd.permissions, builtIn: false }, state),
      );
      return this.reply(result);
    });
  }

  @MessagePattern(Subjects.command('users', UsersVerbs.roleUpdate))
  async update(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<WriteReply<RoleView>> {
    const cmd = updateRoleCommandSchema.parse(payload);
    const meta = metaFromHeaders(ctx.getHeaders());
    const run = () =>
      this.runner.execute('role', cmd.id, roleReducer, meta, (state) => decideRole({ kind: 'update', name: cmd.name, permissions: cmd.permissions }, state));
    if (cmd.name === undefined) return this.reply(await run());
    return this.runner.lock('role-names', async () => {
      await this.assertNameFree(cmd.name!, cmd.id);
      return this.reply(await run());
    });
  }

  @MessagePattern(Subjects.command('users', UsersVerbs.roleDelete))
  async delete(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<{ id: string; version: number; sequence: number }> {
    const { id, force = false } = roleIdCommandSchema.parse(payload);
    const meta = metaFromHeaders(ctx.getHeaders());
    const current = await this.store.load('role', id, roleReducer);
    if (meta.expectedVersion !== undefined && current.revision.version !== meta.expectedVersion) throw new PreconditionFailedError(current.revision.version);
    await this.readModel.fresh();
    const holders = await this.readModel.query<{ user_id: string }>(`select user_id from users.user_roles where role_id = $1`, [id]);
    // Validate (built-in, assigned) before touching any user.
    decideRole({ kind: 'delete', assignedUsers: holders.length, force }, current.state);
    const userMeta = { ...meta, expectedVersion: undefined };
    let sequence = 0;
    for (const { user_id } of holders) {
      const r = await this.runner.execute('user', user_id, userReducer, userMeta, (state) =>
        state.status === 'active' ? decideUser({ kind: 'update', roleIds: state.roleIds.filter((r) => r !== id) }, state) : [],
      );
      sequence = Math.max(sequence, r.sequence);
    }
    const result = await this.runner.execute('role', id, roleReducer, meta, (state) => decideRole({ kind: 'delete', assignedUsers: 0, force: true }, state));
    return { id, version: result.revision.version, sequence: Math.max(sequence, result.sequence) };
  }

  private async assertNameFree(name: string, exceptId?: string): Promise<void> {
    await this.readModel.fresh();
    const [row] = await this.readModel.query<{ id: string }>(`select id from users.roles where lower(name) = lower($1) and id <> coalesce($2::uuid, '00000000-0000-0000-0000-000000000000')`, [name, exceptId ?? null]);
    if (row) throw new DomainError('ALREADY_EXISTS', `A role named ${name} already exists`, { id: row.id });
  }

  private reply(result: Executed<RoleState>): WriteReply<RoleView> {
    return { ...roleViewFromState(result.state, result.revision.version), sequence: result.sequence };
  }
}
