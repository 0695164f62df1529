import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import { z } from 'zod';
import {
  listUsersQuerySchema,
  NotFoundError,
  pageQuerySchema,
  Subjects,
  text,
  userIdCommandSchema,
  UsersVerbs,
  ValidationError,
  type Page,
  type PictureReply,
  type RoleView,
  type SshKeyView,
  type UserView,
} from '@encedeus/contracts';
import { EventStore, metaFromHeaders } from '@encedeus/messaging';
import { ReadModel } from '../common/read-model';
import { roleViewFromRow, USER_SELECT, userViewFromRow, type RoleRow, type UserRow } from './views';

const encodeCursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A users page ends at (created_at, id). */
const usersCursorSchema = z.tuple([z.iso.datetime({ offset: true }), z.uuid()]);
/** A roles page ends at (lower-cased name, id). */
const rolesCursorSchema = z.tuple([text().max(256), z.uuid()]);

/**
 * The position a cursor of ours stands for; anything else is 422 (issue #8 follow-up: crafted
 * cursors such as `["nope","nope"]` reached Postgres as ::timestamptz / ::uuid and answered 500).
 */
function decodeCursor<T>(cursor: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (!cursor) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ValidationError('The cursor is not one this list gave out', [{ path: 'cursor', message: 'invalid cursor' }]);
  return parsed.data;
}

/** The caller's consistency floor (CommandMeta.minSequence: the sequence of its last write, read-your-writes across replicas). */
function floor(ctx: NatsContext | undefined): number {
  return metaFromHeaders(ctx?.getHeaders?.()).minSequence ?? 0;
}

/** Queries over the `users` read model (`cmd.users.get`, `list`, `role_get`, `role_list`, `get_picture`). */
@Controller()
export class UsersQueriesController {
  constructor(
    private readonly readModel: ReadModel,
    private readonly events: EventStore,
  ) {}

  @MessagePattern(Subjects.command('users', UsersVerbs.get))
  async get(@Payload() payload: unknown, @Ctx() ctx?: NatsContext): Promise<UserView> {
    const { id } = userIdCommandSchema.parse(payload);
    await this.readModel.fresh(floor(ctx));
    const select = () => this.readModel.query<UserRow>(`${USER_SELECT} where u.id = $1`, [id]);
    let [row] = await select();
    if (!row) {
      // Another replica may have just created it (auth logs a new user in right after): a miss
      // waits until the read model holds the user's last event, if the log has one.
      const { sequence } = await this.events.currentRevision(Subjects.event('user', id));
      if (sequence > 0) {
        await this.readModel.fresh(sequence);
        [row] = await select();
      }
    }
    if (!row) throw new NotFoundError('User', id);
    return userViewFromRow(row);
  }

  @MessagePattern(Subjects.command('users', UsersVerbs.list))
  async list(@Payload() payload: unknown, @Ctx() ctx?: NatsContext): Promise<Page<UserView>> {
    const q = listUsersQuerySchema.parse(payload ?? {});
    await this.readModel.fresh(floor(ctx));
    const where: string[] = [];
    const params: unknown[] = [];
    const like = (value: string) => `%${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    if (q.name) where.push(`u.name ilike $${params.push(like(q.name))}`);
    if (q.email) where.push(`u.email ilike $${params.push(like(q.email))}`);
    if (q.q) {
      const n = params.push(like(q.q));
      where.push(`(u.name ilike $${n} or u.email ilike $${n})`);
    }
    if (q.disabled) where.push(`u.disabled = $${params.push(q.disabled === 'true')}`);
    if (q.service_account) where.push(`u.service_account = $${params.push(q.service_account === 'true')}`);
    if (q.role) {
      const isId = z.uuid().safeParse(q.role).success;
      where.push(
        `exists (select 1 from users.user_roles ur join users.roles r on r.id = ur.role_id where ur.user_id = u.id and ${
          isId ? `r.id = $${params.push(q.role)}` : `lower(r.name) = lower($${params.push(q.role)})`
        })`,
      );
    }
    const after = decodeCursor(q.cursor, usersCursorSchema);
    if (after) where.push(`(u.created_at, u.id) > ($${params.push(after[0])}::timestamptz, $${params.push(after[1])}::uuid)`);
    const rows = await this.readModel.query<UserRow>(
      `${USER_SELECT} ${where.length ? `where ${where.join(' and ')}` : ''} order by u.created_at, u.id limit ${q.limit + 1}`,
      params,
    );
    const items = rows.slice(0, q.limit).map(userViewFromRow);
    const last = rows.length > q.limit ? rows[q.limit - 1] : undefined;
    return { items, nextCursor: last ? encodeCursor([new Date(last.created_at).toISOString(), last.id]) : null };
  }

  /** `cmd.users.ssh_key_list`: the SSH public keys of a user, oldest first (the auth service matches SFTP logins against them). */
  @MessagePattern(Subjects.command('users', UsersVerbs.sshKeyList))
  async sshKeys(@Payload() payload: unknown, @Ctx() ctx?: NatsContext): Promise<SshKeyView[]> {
    const { id } = userIdCommandSchema.parse(payload);
    await this.readModel.fresh(floor(ctx));
    const rows = await this.readModel.query<{ id: string; name: string; algorithm: string; fingerprint: string; public_key: string; created_at: Date }>(
      `select id, name, algorithm, fingerprint, public_key, created_at from users.ssh_keys where user_id = $1 order by created_at, id`,
      [id],
    );
    return rows.map((r) => ({ id: r.id, name: r.name, algorithm: r.algorithm, fingerprint: r.fingerprint, public_key: r.public_key, created_at: new Date(r.created_at).toISOString() }));
  }

  @MessagePattern(Subjects.command('users', UsersVerbs.getPicture))
  async picture(@Payload() payload: unknown): Promise<PictureReply> {
    const { id } = userIdCommandSchema.parse(payload);
    const [row] = await this.readModel.query<{ content_type: string; data: Buffer }>(
      `select content_type, data from users.pictures where user_id = $1`,
      [id],
    );
    if (!row) throw new NotFoundError('Profile picture of user', id);
    return { contentType: row.content_type, base64: row.data.toString('base64') };
  }

  @MessagePattern(Subjects.command('users', UsersVerbs.roleGet))
  async role(@Payload() payload: unknown, @Ctx() ctx?: NatsContext): Promise<RoleView> {
    const { id } = userIdCommandSchema.parse(payload);
    await this.readModel.fresh(floor(ctx));
    const [row] = await this.readModel.query<RoleRow>(`select * from users.roles where id = $1`, [id]);
    if (!row) throw new NotFoundError('Role', id);
    return roleViewFromRow(row);
  }

  @MessagePattern(Subjects.command('users', UsersVerbs.roleList))
  async roles(@Payload() payload: unknown, @Ctx() ctx?: NatsContext): Promise<Page<RoleView>> {
    const q = pageQuerySchema.parse(payload ?? {});
    await this.readModel.fresh(floor(ctx));
    const after = decodeCursor(q.cursor, rolesCursorSchema);
    const params: unknown[] = [];
    const where = after ? `where (lower(name), id) > ($${params.push(after[0])}, $${params.push(after[1])}::uuid)` : '';
    const rows = await this.readModel.query<RoleRow>(`select * from users.roles ${where} order by lower(name), id limit ${q.limit + 1}`, params);
    const items = rows.slice(0, q.limit).map(roleViewFromRow);
    const last = rows.length > q.limit ? rows[q.limit - 1] : undefined;
    return { items, nextCursor: last ? encodeCursor([last.name.toLowerCase(), last.id]) : null };
  }
}
