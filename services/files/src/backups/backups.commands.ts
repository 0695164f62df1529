import { Controller, Inject, Logger } from '@nestjs/common';
import { Ctx, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import type { DataSource } from 'typeorm';
import {
  backupCompleteSchema,
  backupFailSchema,
  backupMissingSchema,
  backupProgressSchema,
  backupRefCommandSchema,
  backupRestoredSchema,
  createBackupCommandSchema,
  DEFAULT_BACKUP_LIMIT,
  DomainError,
  listBackupsCommandSchema,
  restoreBackupCommandSchema,
  Subjects,
  type BackupView,
  type FileChunkRef,
  type Page,
} from '@encedeus/contracts';
import { AdvisoryLocks, AGENT_NODE_HEADER, CommandHandler, EventStore, newAggregateId, Projector } from '@encedeus/messaging';
import type { ChunkStore } from '@encedeus/chunks';
import { commandMeta, visible } from '../common/meta';
import { CHUNK_STORE, FILES_DB } from '../files.tokens';
import { FILES_OPTIONS, type FilesModuleOptions } from '../files.options';
import { backupDecider, PROGRESS_EVERY_MS } from './backup.decider';
import { advisoryKey, BackupSessions, CHUNK_GC_LOCK, notFound } from './backup-sessions';
import { BACKUP_ACTOR, BackupProcessManager } from './backup.process-manager';
import { readManifest } from './backups.projection';

const SCHEMA = 'files';

interface BackupRow {
  id: string;
  server_id: string;
  name: string;
  status: BackupView['status'];
  size: string;
  new_bytes: string;
  files_count: number;
  progress_bytes: string;
  reason: string | null;
  created_at: Date;
  completed_at: Date | null;
  restore_id: string | null;
  restore_status: NonNullable<BackupView['restore']>['status'] | null;
  restore_path: string | null;
  restore_reason: string | null;
  restore_requested_at: Date | null;
  restore_completed_at: Date | null;
}

function view(r: BackupRow): BackupView {
  return {
    id: r.id,
    server_id: r.server_id,
    name: r.name,
    status: r.status,
    size: Number(r.size),
    new_bytes: Number(r.new_bytes),
    files_count: r.files_count,
    created_at: r.created_at.toISOString(),
    completed_at: r.completed_at?.toISOString() ?? null,
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.status === 'running' ? { progress_bytes: Number(r.progress_bytes) } : {}),
    restore: r.restore_id
      ? {
          id: r.restore_id,
          status: r.restore_status!,
          path: r.restore_path,
          ...(r.restore_reason ? { reason: r.restore_reason } : {}),
          requested_at: r.restore_requested_at!.toISOString(),
          completed_at: r.restore_completed_at?.toISOString() ?? null,
        }
      : null,
  };
}

const agentNode = (ctx: NatsContext): string | undefined => ctx.getHeaders?.()?.get(AGENT_NODE_HEADER) || undefined;

/**
 * Server backups (issue 11, docs/backups.md), aggregate `backup`. Two audiences:
 * - the gateway (it checked the caller against canControlServer and names the server's node and
 *   owner): create, list, get, delete, restore, and the manifest of a completed backup (download);
 * - the server's agent, while it takes or restores a backup: which chunks are missing, progress,
 *   done, failed (chunk bytes go through BackupChunks). Each of these checks the session token and
 *   the agent's node (BackupSessions.check).
 */
@Controller()
export class BackupCommands {
  private readonly logger = new Logger('files/backups');
  private readonly locks: AdvisoryLocks;

  constructor(
    @Inject(CommandHandler) private readonly kernel: CommandHandler,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Projector) private readonly projector: Projector,
    @Inject(FILES_DB) private readonly db: DataSource,
    @Inject(CHUNK_STORE) private readonly chunks: ChunkStore,
    @Inject(FILES_OPTIONS) private readonly options: FilesModuleOptions,
    @Inject(BackupSessions) private readonly sessions: BackupSessions,
    @Inject(BackupProcessManager) private readonly process: BackupProcessManager,
  ) {
    this.locks = new AdvisoryLocks(db);
  }

  private async row(serverId: string, backupId: string): Promise<BackupRow> {
    const [row] = (await this.db.query(`select * from ${SCHEMA}.backups where id = $1 and server_id = $2`, [backupId, serverId])) as BackupRow[];
    if (!row) throw notFound(backupId);
    return row;
  }

  @MessagePattern(Subjects.command('files', 'create_backup'))
  async create(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<BackupView> {
    const c = createBackupCommandSchema.parse(data);
    const meta = commandMeta(ctx);
    const id = newAggregateId('create_backup', meta);
    const limit = this.options.backups?.limit ?? DEFAULT_BACKUP_LIMIT;
    // The limit is checked on the read model under a lock per server, and the new backup is visible before the lock is let go.
    await this.locks.run(`backups:${c.server_id}`, async () => {
      const [{ n }] = (await this.db.query(`select count(*)::int as n from ${SCHEMA}.backups where server_id = $1 and status <> 'failed' and id <> $2`, [c.server_id, id])) as { n: number }[];
      const name = c.name ?? `Backup ${new Date().toISOString().slice(0, 19).replace('T', ' ')}`;
      await visible(this.projector, await this.kernel.handle('backup', id, backupDecider, { type: 'request', serverId: c.server_id, nodeId: c.node_id, ownerId: c.owner_id, name, existing: n, limit }, meta));
    });
    // Handed out now; the sweep does it if this replica dies first.
    void this.process.dispatch(id).catch((error) => this.logger.warn(`backup ${id}: hand-off failed: ${(error as Error).message}`));
    return view(await this.row(c.server_id, id));
  }

  @MessagePattern(Subjects.command('files', 'list_backups'))
  async list(@Payload() data: unknown): Promise<Page<BackupView>> {
    const { server_id: serverId, limit, cursor } = listBackupsCommandSchema.parse(data);
    let after: { at: string; id: string } | undefined;
    if (cursor) {
      try {
        after = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { at: string; id: string };
        if (typeof after.at !== 'string' || typeof after.id !== 'string' || Number.isNaN(Date.parse(after.at)) || !/^[0-9a-f-]{36}$/.test(after.id)) throw new Error('shape');
      } catch {
        throw new DomainError('VALIDATION_FAILED', 'Invalid cursor', { fields: [{ path: 'cursor', message: 'not a cursor of this list' }] });
      }
    }
    const rows = (await this.db.query(
      `select * from ${SCHEMA}.backups where server_id = $1 ${after ? 'and (created_at, id) < ($3::timestamptz, $4::uuid)' : ''} order by created_at desc, id desc limit $2`,
      after ? [serverId, limit + 1, after.at, after.id] : [serverId, limit + 1],
    )) as BackupRow[];
    const items = rows.slice(0, limit).map(view);
    const last = rows.length > limit ? rows[limit - 1] : undefined;
    return { items, nextCursor: last ? Buffer.from(JSON.stringify({ at: last.created_at.toISOString(), id: last.id })).toString('base64url') : null };
  }

  @MessagePattern(Subjects.command('files', 'get_backup'))
  async get(@Payload() data: unknown): Promise<BackupView> {
    const { server_id: serverId, backup_id: backupId } = backupRefCommandSchema.parse(data);
    return view(await this.row(serverId, backupId));
  }

  /** The manifest's chunks of a completed backup of the server (the gateway streams the download from them). */
  @MessagePattern(Subjects.command('files', 'backup_manifest'))
  async manifest(@Payload() data: unknown): Promise<{ name: string; manifest: FileChunkRef[] }> {
    const { server_id: serverId, backup_id: backupId } = backupRefCommandSchema.parse(data);
    await this.row(serverId, backupId);
    const { state } = await this.store.load('backup', backupId, backupDecider);
    if (state.status !== 'completed') throw new DomainError('CONFLICT', `The backup is ${state.status}; only a completed backup can be downloaded`, { reason: 'not_completed' });
    return { name: state.name, manifest: state.manifest };
  }

  @MessagePattern(Subjects.command('files', 'delete_backup'))
  async remove(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ id: string; deleted: true }> {
    const { server_id: serverId, backup_id: backupId } = backupRefCommandSchema.parse(data);
    await this.row(serverId, backupId);
    await visible(this.projector, await this.kernel.handle('backup', backupId, backupDecider, { type: 'delete' }, commandMeta(ctx)));
    return { id: backupId, deleted: true };
  }

  @MessagePattern(Subjects.command('files', 'restore_backup'))
  async restore(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<BackupView> {
    const c = restoreBackupCommandSchema.parse(data);
    await this.row(c.server_id, c.backup_id);
    const meta = commandMeta(ctx);
    const restoreId = newAggregateId('restore_backup', meta);
    await visible(this.projector, await this.kernel.handle('backup', c.backup_id, backupDecider, { type: 'request_restore', restoreId, nodeId: c.node_id, path: c.path ?? null }, meta));
    void this.process.dispatchRestore(c.backup_id).catch((error) => this.logger.warn(`restore of ${c.backup_id}: hand-off failed: ${(error as Error).message}`));
    return view(await this.row(c.server_id, c.backup_id));
  }

  // ---- the agent's calls

  /**
   * Which of these chunks the store lacks. Every hash asked about becomes a reference of the running
   * backup (live for the collector) before the store is asked, under the collector's lock held shared:
   * a collection either ended before (a chunk it deleted is answered missing) or starts after (and
   * sees the reference), so a chunk answered "present" is never collected under the backup.
   */
  @MessagePattern(Subjects.command('files', 'backup_missing'))
  async missing(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ missing: string[] }> {
    const c = backupMissingSchema.parse(data);
    await this.sessions.checkKind('backup', c.backup_id, c.token, agentNode(ctx));
    const unique = [...new Set(c.hashes)];
    return this.db.transaction(async (em) => {
      await em.query(`select pg_advisory_xact_lock_shared(${advisoryKey(CHUNK_GC_LOCK)})`);
      await this.sessions.addRefs(em, c.backup_id, unique);
      const missing: string[] = [];
      for (let i = 0; i < unique.length; i += 32) {
        const part = unique.slice(i, i + 32);
        const found = await Promise.all(part.map((h) => this.chunks.has(h)));
        missing.push(...part.filter((_, k) => !found[k]));
      }
      return { missing };
    });
  }

  @MessagePattern(Subjects.command('files', 'backup_progress'))
  async progress(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ ok: true }> {
    const c = backupProgressSchema.parse(data);
    const session = await this.sessions.check(c.backup_id, c.token, agentNode(ctx));
    const now = new Date().toISOString();
    // A recent progress event is what keeps the backup from being failed as stalled: record one well within the timeout.
    const everyMs = Math.min(PROGRESS_EVERY_MS, Math.floor((this.options.backups?.stallMs ?? 120_000) / 4));
    const command =
      session.kind === 'backup'
        ? ({ type: 'progress', bytes: c.bytes, files: c.files, newBytes: session.newBytes, now, everyMs } as const)
        : ({ type: 'progress_restore', restoreId: session.restoreId!, bytes: c.bytes, files: c.files, now, everyMs } as const);
    await this.kernel.handle('backup', c.backup_id, backupDecider, command, { actor: `agent:${session.nodeId}` });
    return { ok: true };
  }

  /**
   * The agent stored every chunk and the manifest. Checked before backup.completed: the manifest
   * parses, every chunk it lists is stored and was asked about by this backup (an agent cannot claim
   * another tenant's chunk by its hash alone: it would have had to ask, and a chunk nobody sent is missing).
   */
  @MessagePattern(Subjects.command('files', 'backup_complete'))
  async complete(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ ok: true; new_bytes: number }> {
    const c = backupCompleteSchema.parse(data);
    const session = await this.sessions.checkKind('backup', c.backup_id, c.token, agentNode(ctx));
    const meta = { actor: `agent:${session.nodeId}` };
    try {
      const manifest = await readManifest(this.chunks, c.manifest);
      const hashes = [...new Set([...c.manifest.map((m) => m.hash), ...manifest.entries.flatMap((e) => (e.chunks ?? []).map((k) => k.hash))])];
      const unasked = await this.sessions.unreferenced(c.backup_id, hashes);
      if (unasked.length > 0) throw new DomainError('UNPROCESSABLE', `The manifest lists ${unasked.length} chunk(s) this backup never asked about or sent`, { chunks: unasked.slice(0, 5) });
      for (let i = 0; i < hashes.length; i += 32) {
        const part = hashes.slice(i, i + 32);
        const found = await Promise.all(part.map((h) => this.chunks.has(h)));
        const missing = part.filter((_, k) => !found[k]);
        if (missing.length > 0) throw new DomainError('UNPROCESSABLE', `The manifest lists ${missing.length} chunk(s) that are not stored`, { chunks: missing.slice(0, 5) });
      }
      const files = manifest.entries.filter((e) => e.type === 'file');
      const size = files.reduce((n, e) => n + e.size, 0);
      if (files.length !== c.files_count || size !== c.size) throw new DomainError('UNPROCESSABLE', 'The counts do not match the manifest', { files_count: files.length, size });
    } catch (error) {
      const reason = error instanceof DomainError ? error.message : `the manifest cannot be read: ${(error as Error).message}`;
      await this.process.fail(c.backup_id, reason);
      throw error instanceof DomainError ? error : new DomainError('UNPROCESSABLE', reason);
    }
    const { newBytes } = await this.sessions.check(c.backup_id, c.token, agentNode(ctx));
    await visible(
      this.projector,
      await this.kernel.handle('backup', c.backup_id, backupDecider, { type: 'complete', size: c.size, newBytes, filesCount: c.files_count, manifest: c.manifest }, meta),
    );
    // backup_chunks lists the chunks now (projected above): the running backup's references can go.
    await this.sessions.end(c.backup_id, 'backup');
    return { ok: true, new_bytes: newBytes };
  }

  @MessagePattern(Subjects.command('files', 'backup_fail'))
  async fail(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ ok: true }> {
    const c = backupFailSchema.parse(data);
    const session = await this.sessions.check(c.backup_id, c.token, agentNode(ctx));
    if (session.kind === 'backup') await this.process.fail(c.backup_id, `agent: ${c.reason}`);
    else await this.process.failRestore(c.backup_id, session.restoreId!, `agent: ${c.reason}`);
    return { ok: true };
  }

  @MessagePattern(Subjects.command('files', 'backup_restored'))
  async restored(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ ok: true }> {
    const c = backupRestoredSchema.parse(data);
    const session = await this.sessions.checkKind('restore', c.backup_id, c.token, agentNode(ctx));
    await visible(
      this.projector,
      await this.kernel.handle('backup', c.backup_id, backupDecider, { type: 'complete_restore', restoreId: session.restoreId!, files: c.files, bytes: c.bytes }, { actor: BACKUP_ACTOR }),
    );
    await this.sessions.end(c.backup_id, 'restore');
    return { ok: true };
  }
}
