import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import { AuthVerbs, DomainError, deleteCredentialsCommandSchema, setCredentialsCommandSchema, Subjects } from '@encedeus/contracts';
import { metaFromHeaders } from '@encedeus/messaging';
import { hashPassword, passwordHashOptions } from '@encedeus/security';
import { ApiKeysService } from '../apikeys/apikeys.service';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth.options';
import { AuthState } from '../state/auth-state';

/**
 * Credentials of a user (login name, email, argon2id hash), written by the users service before it
 * appends the change. The unique indexes here are what make names and emails unique.
 */
@Controller()
export class CredentialsController {
  constructor(
    private readonly state: AuthState,
    private readonly apiKeys: ApiKeysService,
    @Inject(AUTH_OPTIONS) private readonly options: AuthModuleOptions,
  ) {}

  @MessagePattern(Subjects.command('auth', AuthVerbs.setCredentials))
  async set(@Payload() payload: unknown): Promise<{ userId: string }> {
    const cmd = setCredentialsCommandSchema.parse(payload);
    const hash = cmd.passwordHash ?? (cmd.password ? await hashPassword(cmd.password, this.options.passwordHash ?? passwordHashOptions()) : null);
    try {
      await this.state.query(
        `insert into auth.credentials (user_id, name, email, password_hash) values ($1,$2,$3,$4)
         on conflict (user_id) do update set name = excluded.name, email = excluded.email,
           password_hash = coalesce(excluded.password_hash, auth.credentials.password_hash), updated_at = now()`,
        [cmd.userId, cmd.name, cmd.email, hash],
      );
    } catch (error) {
      const e = error as { code?: string; constraint?: string };
      if (e.code === '23505') {
        const field = e.constraint?.includes('email') ? 'email' : 'name';
        throw new DomainError('ALREADY_EXISTS', field === 'email' ? 'That email is already in use' : 'That name is already in use', { field });
      }
      throw error;
    }
    if (hash) {
      // A new password ends every session of the user.
      await this.state.query(`update auth.refresh_tokens set revoked_at = now() where user_id = $1 and revoked_at is null and created_at < now()`, [cmd.userId]);
    }
    return { userId: cmd.userId };
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
