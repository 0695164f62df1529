import { createHash, randomUUID } from 'node:crypto';
import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import {
  AuthVerbs,
  createUserCommandSchema,
  DomainError,
  setPictureCommandSchema,
  Subjects,
  updateUserCommandSchema,
  userIdCommandSchema,
  UsersVerbs,
  ValidationError,
  type UserView,
  type WriteReply,
} from '@encedeus/contracts';
import { CommandClient, metaFromHeaders, type CommandMeta } from '@encedeus/messaging';
import { AggregateRunner, type Executed } from '../common/aggregate-runner';
import { ReadModel } from '../common/read-model';
import { decideUser, userReducer, type UserState } from '../domain/user.decider';
import { userViewFromState } from '../queries/views';
import { RolesResolver } from './roles-resolver';

/** Largest profile picture (2 MiB). */
export const MAX_PICTURE_BYTES = 2 * 1024 * 1024;

/**
 * Commands of the `user` aggregate. Credentials (name, email, password hash) are stored by auth
 * through `cmd.auth.set_credentials` BEFORE the event is appended, so a failure leaves no user
 * visible without credentials; auth's unique indexes make names and emails unique.
 */
@Controller()
export class UserCommandsController {
  constructor(
    private readonly runner: AggregateRunner,
    private readonly commands: CommandClient,
    private readonly roles: RolesResolver,
    private readonly readModel: ReadModel,
  ) {}

  @MessagePattern(Subjects.command('users', UsersVerbs.create))
  async create(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<WriteReply<UserView>> {
    const cmd = createUserCommandSchema.parse(payload);
    const meta: CommandMeta = { ...metaFromHeaders(ctx.getHeaders()), expectedVersion: undefined };
    if (!cmd.serviceAccount && !cmd.password && !cmd.passwordHash) throw new ValidationError('A password is required', [{ path: 'password', message: 'required' }]);
    if (!cmd.serviceAccount && !cmd.email) throw new ValidationError('An email is required', [{ path: 'email', message: 'required' }]);
    const roleIds = (await this.roles.resolve(cmd)) ?? this.roles.defaultRoles();
    const id = cmd.id ?? randomUUID();
    const email = cmd.email ?? null;
    const result = await this.runner.execute(
      'user',
      id,
      userReducer,
      meta,
      async (state) => {
        const events = decideUser(
          { kind: 'create', id, name: cmd.name, email, roleIds, serviceAccount: cmd.serviceAccount, otpEnabled: cmd.otpEnabled },
          state,
        );
        await this.commands.send('auth', AuthVerbs.setCredentials, { userId: id, name: cmd.name, email, password: cmd.password, passwordHash: cmd.passwordHash }, meta);
        return events;
      },
      () => this.commands.send('auth', AuthVerbs.deleteCredentials, { userId: id }, meta),
    );
    return this.reply(result);
  }

  @MessagePattern(Subjects.command('users', UsersVerbs.update))
  async update(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<WriteReply<UserView>> {
    const cmd = updateUserCommandSchema.parse(payload);
    const meta = metaFromHeaders(ctx.getHeaders());
    const roleIds = await this.roles.resolve(cmd);
    let before: UserState | undefined;
    const result = await this.runner.execute(
      'user',
      cmd.id,
      userReducer,
      meta,
      async (state) => {
        const events = decideUser(
          { kind: 'update', name: cmd.name, email: cmd.email, disabled: cmd.disabled, otpEnabled: cmd.otpEnabled, passwordChanged: !!cmd.password, roleIds },
          state,
        );
        const identityChanged = (cmd.name !== undefined && cmd.name !== state.name) || (cmd.email !== undefined && cmd.email !== state.email);
        if (identityChanged || cmd.password) {
          before = state;
          await this.commands.send(
            'auth',
            AuthVerbs.setCredentials,
            { userId: cmd.id, name: cmd.name ?? state.name, email: cmd.email ?? state.email, password: cmd.password },
            meta,
          );
        }
        return events;
      },
      // The append lost a race: put the name and email back (a password set in the race stays set).
      async () => {
        if (before) await this.commands.send('auth', AuthVerbs.setCredentials, { userId: cmd.id, name: before.name, email: before.email }, meta);
      },
    );
    return this.reply(result);
  }

  @MessagePattern(Subjects.command('users', UsersVerbs.delete))
  async delete(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<{ id: string; version: number; sequence: number }> {
    const { id } = userIdCommandSchema.parse(payload);
    const meta = metaFromHeaders(ctx.getHeaders());
    const result = await this.runner.execute('user', id, userReducer, meta, (state) => decideUser({ kind: 'delete' }, state));
    // After the append: the user is gone, so leftover credentials can no longer log in (auth checks the user).
    await this.commands.send('auth', AuthVerbs.deleteCredentials, { userId: id }, { ...meta, expectedVersion: undefined }).catch(() => undefined);
    await this.readModel.query(`delete from users.pictures where user_id = $1`, [id]);
    return { id, version: result.revision.version, sequence: result.sequence };
  }

  @MessagePattern(Subjects.command('users', UsersVerbs.setPicture))
  async setPicture(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<WriteReply<UserView>> {
    const cmd = setPictureCommandSchema.parse(payload);
    const meta = metaFromHeaders(ctx.getHeaders());
    const data = Buffer.from(cmd.base64, 'base64');
    if (data.length > MAX_PICTURE_BYTES) throw new DomainError('PAYLOAD_TOO_LARGE', 'A profile picture may be at most 2 MiB');
    const sha256 = createHash('sha256').update(data).digest('hex');
    const result = await this.runner.execute('user', cmd.id, userReducer, meta, async (state) => {
      const events = decideUser({ kind: 'set_picture', picture: { contentType: cmd.contentType, size: data.length, sha256 } }, state);
      await this.readModel.query(
        `insert into users.pictures (user_id, content_type, sha256, size, data) values ($1,$2,$3,$4,$5)
         on conflict (user_id) do update set content_type = excluded.content_type, sha256 = excluded.sha256, size = excluded.size, data = excluded.data`,
        [cmd.id, cmd.contentType, sha256, data.length, data],
      );
      return events;
    });
    return this.reply(result);
  }

  private async reply(result: Executed<UserState>): Promise<WriteReply<UserView>> {
    const view = userViewFromState(result.state, result.revision.version, await this.roles.refs(result.state.roleIds));
    return { ...view, sequence: result.sequence };
  }
}
