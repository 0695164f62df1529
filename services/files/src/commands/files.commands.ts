import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import {
  baseName,
  beginUploadSchema,
  commitUploadSchema,
  DomainError,
  movePathBodySchema,
  QuotaExceededError,
  setQuotaBodySchema,
  Subjects,
  userPathSchema,
  type QuotaView,
  type RawFileView,
  type VfsFileView,
} from '@encedeus/contracts';
import { CommandHandler, EventStore, Projector } from '@encedeus/messaging';
import type { ChunkStore } from '@encedeus/chunks';
import { driveDecider, quotaOf } from '../domain/drive.decider';
import { SCHEMA } from '../projections/files.projection';
import { commandMeta, visible } from '../common/meta';
import { FILES_DB, CHUNK_STORE } from '../files.tokens';
import { FILES_OPTIONS, type FilesModuleOptions } from '../files.options';

export const userIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,100}$/);
const userSchema = z.object({ user_id: userIdSchema });
/**
 * A reservation lives this long unless renewed: the gateway renews it while the upload streams
 * (UPLOAD_RENEW_MS), so an upload may take any time, and one whose gateway died frees its bytes
 * within this. While it lives, the garbage collector keeps the chunks stored since it began.
 */
export const RESERVATION_TTL_MS = 2 * 60_000;
/** Multipart framing around a file: a declared length this much over what is left still gets to try. */
const MULTIPART_SLACK = 64 * 1024;

/**
 * Commands on a user's drive (aggregate `file`, id = the user): uploads (reserve, commit, abort),
 * mkdir, move, delete, quota. The gateway has stored an upload's chunks; commit checks every one
 * is in the store before file.uploaded is appended.
 */
@Controller()
export class FilesCommands {
  constructor(
    @Inject(CommandHandler) private readonly kernel: CommandHandler,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Projector) private readonly projector: Projector,
    @Inject(FILES_DB) private readonly db: DataSource,
    @Inject(CHUNK_STORE) private readonly chunks: ChunkStore,
    @Inject(FILES_OPTIONS) private readonly options: FilesModuleOptions,
  ) {}

  private get defaultQuota(): number {
    return this.options.defaultQuotaBytes ?? 10 * 1024 ** 3;
  }

  private async reservedByOthers(userId: string, uploadId: string): Promise<number> {
    const [row] = (await this.db.query(
      `select coalesce(sum(bytes), 0)::bigint as bytes from ${SCHEMA}.upload_reservations where user_id = $1 and upload_id <> $2 and expires_at > now()`,
      [userId, uploadId],
    )) as { bytes: string }[];
    return Number(row.bytes);
  }

  /**
   * Takes a reservation before any chunk is stored: answers the bytes the upload may take, or 413
   * when the declared length cannot fit. The gateway stops reading past `available_bytes`.
   */
  @MessagePattern(Subjects.command('files', 'begin_upload'))
  async beginUpload(@Payload() data: unknown): Promise<{ available_bytes: number }> {
    const { user_id: userId, upload_id: uploadId, path, declared_bytes: declared } = beginUploadSchema.extend({ user_id: userIdSchema }).parse(data);
    const { state } = await this.store.load('file', userId, driveDecider);
    const quota = quotaOf(state, this.defaultQuota);
    const replacing = path ? (state.files[path]?.size ?? 0) : 0;
    const available = Math.max(0, quota - state.usedBytes + replacing - (await this.reservedByOthers(userId, uploadId)));
    if (declared !== undefined && declared > available + MULTIPART_SLACK) throw new QuotaExceededError(state.usedBytes, quota, declared);
    const bytes = Math.min(declared ?? available, available);
    await this.db.query(
      `insert into ${SCHEMA}.upload_reservations (upload_id, user_id, bytes, expires_at) values ($1, $2, $3, now() + make_interval(secs => $4))
       on conflict (upload_id) do nothing`,
      [uploadId, userId, bytes, RESERVATION_TTL_MS / 1000],
    );
    await this.db.query(`delete from ${SCHEMA}.upload_reservations where expires_at < now()`);
    return { available_bytes: available };
  }

  /** Keeps an upload in flight alive: its reservation for another RESERVATION_TTL_MS. `renewed: false` once it expired or ended. */
  @MessagePattern(Subjects.command('files', 'renew_upload'))
  async renewUpload(@Payload() data: unknown): Promise<{ renewed: boolean }> {
    const { upload_id: uploadId } = z.object({ upload_id: z.uuid() }).parse(data);
    const rows = (await this.db.query(
      `update ${SCHEMA}.upload_reservations set expires_at = now() + make_interval(secs => $2) where upload_id = $1 and expires_at > now() returning upload_id`,
      [uploadId, RESERVATION_TTL_MS / 1000],
    )) as [unknown[], number];
    return { renewed: rows[1] > 0 };
  }

  /** Releases a reservation (upload refused, failed or aborted); its chunks are left to the garbage collector. */
  @MessagePattern(Subjects.command('files', 'abort_upload'))
  async abortUpload(@Payload() data: unknown): Promise<{ aborted: true }> {
    const { upload_id: uploadId } = z.object({ upload_id: z.uuid() }).parse(data);
    await this.db.query(`delete from ${SCHEMA}.upload_reservations where upload_id = $1`, [uploadId]);
    return { aborted: true };
  }

  @MessagePattern(Subjects.command('files', 'commit_upload'))
  async commitUpload(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<RawFileView | VfsFileView> {
    const c = commitUploadSchema.extend({ user_id: userIdSchema }).parse(data);
    try {
      await this.assertStored(c.chunks.map((k) => k.hash));
      const handled = await visible(
        this.projector,
        await this.kernel.handle(
          'file',
          c.user_id,
          driveDecider,
          {
            type: 'commit_upload',
            path: c.path ?? null,
            fileId: c.upload_id,
            name: c.path ? baseName(c.path) : c.name,
            size: c.size,
            sha256: c.sha256,
            chunks: c.chunks,
            defaultQuota: this.defaultQuota,
            reservedByOthers: await this.reservedByOthers(c.user_id, c.upload_id),
          },
          commandMeta(ctx),
          { conflictRetries: 4 },
        ),
      );
      const file = c.path ? handled.state.files[c.path] : handled.state.raw[c.upload_id];
      if (!c.path) return { id: file.id, name: file.name, size: file.size, chunks_count: file.chunks.length, status: 'Uploaded', sha256: file.sha256, created_at: file.modified };
      return { path: c.path, name: file.name, type: 'file', size: file.size, modified: file.modified, sha256: file.sha256, chunks_count: file.chunks.length };
    } finally {
      await this.db.query(`delete from ${SCHEMA}.upload_reservations where upload_id = $1`, [c.upload_id]);
    }
  }

  /** Every chunk an upload lists must be stored before its metadata is recorded. */
  private async assertStored(hashes: string[]): Promise<void> {
    const unique = [...new Set(hashes)];
    for (let i = 0; i < unique.length; i += 16) {
      const found = await Promise.all(unique.slice(i, i + 16).map((h) => this.chunks.has(h)));
      const missing = unique.slice(i, i + 16).filter((_, k) => !found[k]);
      if (missing.length > 0) throw new DomainError('UNPROCESSABLE', `The upload lists ${missing.length} chunk(s) that are not stored`, { missing: missing.slice(0, 10) });
    }
  }

  @MessagePattern(Subjects.command('files', 'mkdir'))
  async mkdir(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ message: string; path: string }> {
    const { user_id: userId, path } = userPathSchema.extend({ user_id: userIdSchema }).parse(data);
    await visible(this.projector, await this.kernel.handle('file', userId, driveDecider, { type: 'mkdir', path }, commandMeta(ctx)));
    return { message: 'Directory created', path };
  }

  @MessagePattern(Subjects.command('files', 'move'))
  async move(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ message: string; old_path: string; new_path: string }> {
    const { user_id: userId, old_path: oldPath, new_path: newPath } = movePathBodySchema.extend({ user_id: userIdSchema }).parse(data);
    await visible(this.projector, await this.kernel.handle('file', userId, driveDecider, { type: 'move', oldPath, newPath }, commandMeta(ctx)));
    return { message: 'Moved', old_path: oldPath, new_path: newPath };
  }

  @MessagePattern(Subjects.command('files', 'delete'))
  async remove(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ message: string; path: string }> {
    const { user_id: userId, path } = userPathSchema.extend({ user_id: userIdSchema }).parse(data);
    await visible(this.projector, await this.kernel.handle('file', userId, driveDecider, { type: 'delete', path }, commandMeta(ctx)));
    return { message: 'Deleted', path };
  }

  @MessagePattern(Subjects.command('files', 'delete_raw'))
  async removeRaw(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ id: string; deleted: true }> {
    const { user_id: userId, id } = userSchema.extend({ id: z.uuid() }).parse(data);
    await visible(this.projector, await this.kernel.handle('file', userId, driveDecider, { type: 'delete_raw', fileId: id }, commandMeta(ctx)));
    return { id, deleted: true };
  }

  @MessagePattern(Subjects.command('files', 'set_quota'))
  async setQuota(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<QuotaView> {
    const { user_id: userId, bytes } = setQuotaBodySchema.extend({ user_id: userIdSchema }).parse(data);
    const handled = await visible(this.projector, await this.kernel.handle('file', userId, driveDecider, { type: 'set_quota', bytes }, commandMeta(ctx)));
    return { used_bytes: handled.state.usedBytes, quota_bytes: quotaOf(handled.state, this.defaultQuota) };
  }
}
