import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import {
  createRoleBodySchema,
  PreconditionFailedError,
  roleNameKey,
  roleIdCommandSchema,
  Subjects,
  updateRoleCommandSchema,
  UsersVerbs,
  type RoleView,
  type WriteReply,
} from '@encedeus/contracts';
import { EventStore, metaFromHeaders, newAggregateId } from '@encedeus/messaging';
import { AggregateRunner, type Executed } from '../common/aggregate-runner';
import { ReadModel } from '../common/read-model';
import { decideRole, roleReducer, type RoleState } from '../domain/role.decider';
import { decideUser, userReducer } from '../domain/user.decider';
import { roleViewFromState } from '../queries/views';
import { RoleNameReservations, type Reservation } from './role-name-reservations';

/** Commands of the `role` aggregate. Role names are unique across replicas (RoleNameReservations). */
@Controller()
export class RoleCommandsController {
  constructor(
    private readonly runner: AggregateRunner,
    private readonly readModel: ReadModel,
    private readonly store: EventStore,
    private readonly names: RoleNameReservations,
  ) {}

  @MessagePattern(Subjects.command('users', UsersVerbs.roleCreate))
  async create(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<WriteReply<RoleView>> {
    const cmd = createRoleBodySchema.parse(payload);
    const meta = { ...metaFromHeaders(ctx.getHeaders()), expectedVersion: undefined };
    // With an Idempotency-Key a retry lands on the role (and the name reservation) of the first attempt.
    const id = newAggregateId('users.role_create', meta);
    const name = await this.names.reserve(cmd.name, id);
    const result = await this.committed(name, id, () =>
      this.runner.execute('role', id, roleReducer, meta, (state) =>
        meta.idempotencyKey && state.status !== 'none' ? [] : decideRole({ kind: 'create', id, name: cmd.name, permissions: cmd.permissions, builtIn: false }, state),
      ),
    );
    return this.reply(result);
  }

  @MessagePattern(Subjects.command('users', UsersVerbs.roleUpdate))
  async update(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<WriteReply<RoleView>> {
    const cmd = updateRoleCommandSchema.parse(payload);
    const meta = metaFromHeaders(ctx.getHeaders());
    const run = () =>
      this.runner.execute('role', cmd.id, roleReducer, meta, (state) => decideRole({ kind: 'update', name: cmd.name, permissions: cmd.permissions }, state));
    if (cmd.name === undefined) return this.reply(await run());
    const before = await this.store.load('role', cmd.id, roleReducer);
    // Unknown, deleted or built-in (refused by the decider), or the same name in another ASCII case
    // (the owner's reservation already covers it): nothing to reserve.
    if (before.state.status !== 'active' || before.state.builtIn || roleNameKey(before.state.name) === roleNameKey(cmd.name)) return this.reply(await run());
    const name = await this.names.reserve(cmd.name, cmd.id);
    const result = await this.committed(name, cmd.id, run);
    if (result.state.name === cmd.name) await this.names.release(roleNameKey(before.state.name), cmd.id).catch(() => undefined);
    return this.reply(result);
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
    // A crash before this leaves the name reserved until RoleNameReservations takes it over.
    await this.names.release(roleNameKey(current.state.name), id).catch(() => undefined);
    return { id, version: result.revision.version, sequence: Math.max(sequence, result.sequence) };
  }

  /** Runs a command that needs the freshly reserved `name`; gives the name back when it did not commit. */
  private async committed<T>(name: Reservation, ownerId: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (name.fresh) await this.names.release(name.key, ownerId).catch(() => undefined);
      throw error;
    }
  }

  private reply(result: Executed<RoleState>): WriteReply<RoleView> {
    return { ...roleViewFromState(result.state, result.revision.version), sequence: result.sequence };
  }
}
