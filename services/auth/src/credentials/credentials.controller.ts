import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import {
  AuthVerbs,
  DomainError,
  NotFoundError,
  deleteCredentialsCommandSchema,
  setCredentialsCommandSchema,
  Subjects,
  UserCreated,
  UserDeleted,
  type CloudEvent,
} from '@encedeus/contracts';
import { EventStore, metaFromHeaders, type Reducer } from '@encedeus/messaging';
import { ApiKeysService } from '../apikeys/apikeys.service';
import { AuthState } from '../state/auth-state';
import { PasswordHasher } from './password-hasher';

/** Whether a user exists, folded from its stream (only to tell orphaned credentials apart). */
const userExists: Reducer<boolean> = {
  name: 'auth-user-exists-v1',
  initialState: () => false,
  evolve: (exists: boolean, e: CloudEvent) => (e.type === UserCreated.type ? true : e.type === UserDeleted.type ? false : exists),
};

/**
 * Older than any create in flight can be (every step of one answers within seconds), so credentials
 * this old without a user are left by a crash between `set_credentials` and the user's append.
 */
const ORPHAN_AFTER_SECONDS = 60;

const isUniqueViolation = (error: unknown) => (error as { code?: string }).code === '23505';

/**
 * Credentials of a user (login name, email, argon2id hash), written by the users service before it
 * appends the change (a create stages them; UserCredentialsProcessManager confirms them on
 * `user.created` and deletes them on `user.deleted`). The unique indexes here are what make names and emails unique; credentials
 * whose user was never created (or was deleted) give their name and email up to the next writer.
 */
@Controller()
export class CredentialsController {
  constructor(
    private readonly state: AuthState,
    private readonly apiKeys: ApiKeysService,
    private readonly hasher: PasswordHasher,
    private readonly store: EventStore,
  ) {}

  @MessagePattern(Subjects.command('auth', AuthVerbs.setCredentials))
  async set(@Payload() payload: unknown): Promise<{ userId: string }> {
    const cmd = setCredentialsCommandSchema.parse(payload);
    // Hashed first (a busy queue refuses with 429 here), so a refusal writes nothing.
    const hash = cmd.passwordHash ?? (cmd.password ? await this.hasher.hash(cmd.password) : null);
    const write = async () => {
      // A create never writes over confirmed credentials of its id (a create naming an existing id
      // would reset them), only over an unconfirmed staging of the same name and email: the kernel
      // retrying the same create after a lost race. One statement, so two creates cannot interleave.
      if (!cmd.create) {
        // A change never creates credentials: after the user's deletion (its credentials gone) a
        // late update or its compensation must not bring a row back.
        // A CTE, so the driver answers rows (TypeORM answers [rows, count] for a bare UPDATE).
        const updated = await this.state.query<{ user_id: string }>(
          `with changed as (update auth.credentials set name = $2, email = $3, password_hash = coalesce($4, password_hash),
             password_changed_at = case when $4::text is null then password_changed_at else now() end, updated_at = now() where user_id = $1 returning user_id)
           select user_id from changed`,
          [cmd.userId, cmd.name, cmd.email, hash],
        );
        if (updated.length === 0) throw new NotFoundError('User', cmd.userId);
        return;
      }
      const rows = await this.state.query<{ user_id: string }>(
        `insert into auth.credentials (user_id, name, email, password_hash) values ($1,$2,$3,$4)
         on conflict (user_id) do update set name = excluded.name, email = excluded.email,
           password_hash = coalesce(excluded.password_hash, auth.credentials.password_hash),
           password_changed_at = case when excluded.password_hash is null then auth.credentials.password_changed_at else now() end, updated_at = now()
         where auth.credentials.confirmed_at is null and auth.credentials.name = excluded.name and auth.credentials.email is not distinct from excluded.email
         returning user_id`,
        [cmd.userId, cmd.name, cmd.email, hash],
      );
      if (rows.length === 0) throw new DomainError('ALREADY_EXISTS', `User ${cmd.userId} already exists`, { id: cmd.userId });
    };
    try {
      await write().catch(async (error) => {
        if (!isUniqueViolation(error) || !(await this.reclaimOrphans(cmd.userId, cmd.name, cmd.email))) throw error;
        await write();
      });
    } catch (error) {
      if (isUniqueViolation(error)) {
        const field = (error as { constraint?: string }).constraint?.includes('email') ? 'email' : 'name';
        throw new DomainError('ALREADY_EXISTS', field === 'email' ? 'That email is already in use' : 'That name is already in use', { field });
      }
      throw error;
    }
    if (hash) {
      // A new password ends every session of the user but the changer's own (keepFamilyId).
      await this.state.query(
        `update auth.refresh_tokens set revoked_at = now()
          where user_id = $1 and revoked_at is null and created_at < now() and family_id is distinct from $2::uuid`,
        [cmd.userId, cmd.keepFamilyId ?? null],
      );
    }
    return { userId: cmd.userId };
  }

  /** Deletes credentials holding `name` or `email` whose user does not exist; true when any were. */
  private async reclaimOrphans(userId: string, name: string, email: string | null): Promise<boolean> {
    const holders = await this.state.query<{ user_id: string }>(
      `select user_id from auth.credentials
        where user_id <> $1 and (lower(name) = lower($2) or lower(email) = lower($3))
          and updated_at < now() - $4 * interval '1 second'`,
      [userId, name, email, ORPHAN_AFTER_SECONDS],
    );
    let reclaimed = false;
    for (const { user_id } of holders) {
      if ((await this.store.load('user', user_id, userExists)).state) continue;
      await this.state.query(`delete from auth.credentials where user_id = $1 and updated_at < now() - $2 * interval '1 second'`, [user_id, ORPHAN_AFTER_SECONDS]);
      reclaimed = true;
    }
    return reclaimed;
  }

  @MessagePattern(Subjects.command('auth', AuthVerbs.deleteCredentials))
  async delete(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<{ userId: string }> {
    const { userId } = deleteCredentialsCommandSchema.parse(payload);
    await this.state.query(`delete from auth.credentials where user_id = $1`, [userId]);
    await this.state.query(`update auth.refresh_tokens set revoked_at = now() where user_id = $1 and revoked_at is null`, [userId]);
    await this.apiKeys.revokeAllOf(userId, metaFromHeaders(ctx.getHeaders()).actor);
    return { userId };
  }
}
