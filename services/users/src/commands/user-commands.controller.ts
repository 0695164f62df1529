import { createHash } from 'node:crypto';
import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import {
  AuthVerbs,
  createUserCommandSchema,
  DomainError,
  addSshKeyCommandSchema,
  setPictureCommandSchema,
  sshKeyCommandSchema,
  Subjects,
  updateUserCommandSchema,
  userIdCommandSchema,
  UsersVerbs,
  ValidationError,
  type SshKeyView,
  type UserView,
  type WriteReply,
} from '@encedeus/contracts';
import { parseSshPublicKey } from '@encedeus/security';
import { CommandClient, metaFromHeaders, newAggregateId, type CommandMeta } from '@encedeus/messaging';
import { AggregateRunner, type Executed } from '../common/aggregate-runner';
import { ReadModel } from '../common/read-model';
import { decideUser, userReducer, type UserState } from '../domain/user.decider';
import { userViewFromState } from '../queries/views';
import { RolesResolver } from './roles-resolver';

/** Largest profile picture (2 MiB). */
export const MAX_PICTURE_BYTES = 2 * 1024 * 1024;

/**
 * Commands of the `user` aggregate. A create stages the credentials (name, email, password hash)
 * with `cmd.auth.set_credentials` (mode `create`) BEFORE `user.created` is appended: auth's unique
 * indexes answer 409 for a taken name or email and its bounded queue 429 when busy, before anything
 * is recorded, and the password never enters an event. What follows is auth's process manager
 * reacting to the events (confirm on `user.created`, delete credentials, sessions and keys on
 * `user.deleted`); nothing is compensated in line. A staging whose event never came (the append
 * failed, an instance died) holds its name and email for a minute at most.
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
    // A retry with the same Idempotency-Key (after a timeout whose first attempt committed) lands on
    // the user the first attempt created and records nothing new.
    const id = cmd.id ?? newAggregateId('users.create', meta);
    const retried = cmd.id === undefined && meta.idempotencyKey !== undefined;
    const email = cmd.email ?? null;
    const result = await this.runner.execute('user', id, userReducer, meta, async (state) => {
      if (retried && state.status !== 'none') return [];
      const events = decideUser(
        { kind: 'create', id, name: cmd.name, email, roleIds, serviceAccount: cmd.serviceAccount, otpEnabled: cmd.otpEnabled },
        state,
      );
      // Staged, not undone: auth confirms them when user.created arrives; a staging whose event never
      // comes gives its name and email up after a minute (docs/identity.md).
      await this.commands.send(
        'auth',
        AuthVerbs.setCredentials,
        { userId: id, name: cmd.name, email, password: cmd.password, passwordHash: cmd.passwordHash, create: true },
        meta,
      );
      return events;
    });
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
          {
            kind: 'update',
            name: cmd.name,
            email: cmd.email,
            disabled: cmd.disabled,
            otpEnabled: cmd.otpEnabled,
            passwordChanged: !!cmd.password,
            keptSessionId: cmd.keepSessionId,
            roleIds,
          },
          state,
        );
        const identityChanged = (cmd.name !== undefined && cmd.name !== state.name) || (cmd.email !== undefined && cmd.email !== state.email);
        if (identityChanged || cmd.password) {
          before = state;
          await this.commands.send(
            'auth',
            AuthVerbs.setCredentials,
            { userId: cmd.id, name: cmd.name ?? state.name, email: cmd.email ?? state.email, password: cmd.password, keepFamilyId: cmd.keepSessionId },
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
    // Credentials, sessions and API keys follow the event in auth (UserCredentialsProcessManager).
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

  /** `cmd.users.ssh_key_add`: parses the OpenSSH line (422 for private keys and garbage), 409 for a key the user has. */
  @MessagePattern(Subjects.command('users', UsersVerbs.sshKeyAdd))
  async addSshKey(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<SshKeyView & { sequence: number }> {
    const cmd = addSshKeyCommandSchema.parse(payload);
    const meta = metaFromHeaders(ctx.getHeaders());
    const key = parseSshPublicKey(cmd.public_key);
    const keyId = newAggregateId('users.ssh_key_add', meta);
    const result = await this.runner.execute('user', cmd.id, userReducer, meta, async (state) => decideUser({ kind: 'add_ssh_key', keyId, name: cmd.name, ...key }, state));
    return { id: keyId, name: cmd.name, algorithm: key.algorithm, fingerprint: key.fingerprint, public_key: key.publicKey, created_at: result.state.updatedAt, sequence: result.sequence };
  }

  @MessagePattern(Subjects.command('users', UsersVerbs.sshKeyRemove))
  async removeSshKey(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<{ sequence: number }> {
    const cmd = sshKeyCommandSchema.parse(payload);
    const meta = metaFromHeaders(ctx.getHeaders());
    const result = await this.runner.execute('user', cmd.id, userReducer, meta, async (state) => decideUser({ kind: 'remove_ssh_key', keyId: cmd.keyId }, state));
    return { sequence: result.sequence };
  }

  private async reply(result: Executed<UserState>): Promise<WriteReply<UserView>> {
    const view = userViewFromState(result.state, result.revision.version, await this.roles.refs(result.state.roleIds));
    return { ...view, sequence: result.sequence };
  }
}
