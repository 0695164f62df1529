import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { NotFoundError, pageQuerySchema, ValidationError, Subjects, vfsPathSchema, type FileContent, type FsEntry, type FsStats, type Page, type QuotaView, type RawFileView } from '@encedeus/contracts';
import type { ChunkStore } from '@encedeus/chunks';
import { SCHEMA } from '../projections/files.projection';
import { CHUNK_STORE, FILES_DB } from '../files.tokens';
import { FILES_OPTIONS, type FilesModuleOptions } from '../files.options';
import { userIdSchema } from '../commands/files.commands';

/** An opaque cursor: the sort key of the last row of the previous page. */
const cursorOf = (key: unknown[]) => Buffer.from(JSON.stringify(key)).toString('base64url');
/** The key of a cursor; `valid` checks what the list's query casts (a forged cursor is 422, never a failed query). */
function keyOf(cursor: string | undefined, valid: (key: string[]) => boolean = () => true): string[] | undefined {
  if (!cursor) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.length === 2 && key.every((k) => typeof k === 'string') && valid(key)) return key;
  } catch {
    /* below */
  }
  throw new ValidationError('The cursor is not one of this list', [{ path: 'cursor', message: 'is not a cursor of this list' }]);
}

interface EntryRow {
  name: string;
  type: 'file' | 'folder';
  size: string;
  modified: Date;
}

/** Read side of the files service, from schema `files`; every query is scoped to one user. */
@Controller()
export class FilesQueries {
  constructor(
    @Inject(FILES_DB) private readonly db: DataSource,
    @Inject(CHUNK_STORE) private readonly chunks: ChunkStore,
    @Inject(FILES_OPTIONS) private readonly options: FilesModuleOptions,
  ) {}

  /** A folder's entries, folders first then by name. A path that is not a folder of this user is 404. */
  @MessagePattern(Subjects.command('files', 'ls'))
  async ls(@Payload() data: unknown): Promise<Page<FsEntry>> {
    const q = pageQuerySchema.extend({ user_id: userIdSchema, path: vfsPathSchema }).parse(data);
    if (q.path !== '/') {
      const [folder] = (await this.db.query(`select type from ${SCHEMA}.entries where user_id = $1 and path = $2`, [q.user_id, q.path])) as { type: string }[];
      if (folder?.type !== 'folder') throw new NotFoundError('Folder', q.path);
    }
    const key = keyOf(q.cursor);
    const params: unknown[] = [q.user_id, q.path, q.limit + 1];
    const sortKey = `case type when 'folder' then '0' else '1' end`;
    const after = key ? `and (${sortKey}, name collate "C") > ($${params.push(key[0])}::text, $${params.push(key[1])}::text collate "C")` : '';
    const rows = (await this.db.query(
      `select name, type, size, modified from ${SCHEMA}.entries where user_id = $1 and parent = $2 and path <> '/' ${after}
       order by ${sortKey}, name collate "C" limit $3`,
      params,
    )) as EntryRow[];
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => ({ name: r.name, type: r.type, size: Number(r.size), modified: new Date(r.modified).toISOString() })),
      nextCursor: rows.length > q.limit ? cursorOf([last.type === 'folder' ? '0' : '1', last.name]) : null,
    };
  }

  @MessagePattern(Subjects.command('files', 'list_raw'))
  async listRaw(@Payload() data: unknown): Promise<Page<RawFileView>> {
    const q = pageQuerySchema.extend({ user_id: userIdSchema }).parse(data);
    // The timestamp goes to Postgres as ::timestamptz: only the form cursorOf writes.
    const key = keyOf(q.cursor, ([at]) => !Number.isNaN(Date.parse(at)) && new Date(at).toISOString() === at);
    const params: unknown[] = [q.user_id, q.limit + 1];
    const after = key ? `and (created_at, id::text) > ($${params.push(key[0])}::timestamptz, $${params.push(key[1])})` : '';
    const rows = (await this.db.query(
      `select id, name, size, sha256, chunks_count, created_at from ${SCHEMA}.raw_files where user_id = $1 ${after} order by created_at, id::text limit $2`,
      params,
    )) as { id: string; name: string; size: string; sha256: string; chunks_count: number; created_at: Date }[];
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => ({
        id: r.id,
        name: r.name,
        size: Number(r.size),
        chunks_count: r.chunks_count,
        status: 'Uploaded' as const,
        sha256: r.sha256,
        created_at: new Date(r.created_at).toISOString(),
      })),
      nextCursor: rows.length > q.limit ? cursorOf([new Date(last.created_at).toISOString(), last.id]) : null,
    };
  }

  /** What the gateway streams: a file of this user by VFS path or raw id, with its chunk list. Anyone else's is 404. */
  @MessagePattern(Subjects.command('files', 'content'))
  async content(@Payload() data: unknown): Promise<FileContent> {
    const q = z.union([z.object({ user_id: userIdSchema, path: vfsPathSchema }), z.object({ user_id: userIdSchema, id: z.uuid() })]).parse(data);
    const [file] = (
      'path' in q
        ? await this.db.query(`select file_id, name, size, sha256, modified from ${SCHEMA}.entries where user_id = $1 and path = $2 and type = 'file'`, [q.user_id, q.path])
        : await this.db.query(`select id as file_id, name, size, sha256, created_at as modified from ${SCHEMA}.raw_files where user_id = $1 and id = $2`, [q.user_id, q.id])
    ) as { file_id: string; name: string; size: string; sha256: string; modified: Date }[];
    if (!file) throw new NotFoundError('File', 'path' in q ? q.path : q.id);
    const chunks = (await this.db.query(`select hash, size from ${SCHEMA}.file_chunks where file_id = $1 order by n`, [file.file_id])) as { hash: string; size: string }[];
    return {
      name: file.name,
      size: Number(file.size),
      sha256: file.sha256,
      modified: new Date(file.modified).toISOString(),
      chunks: chunks.map((c) => ({ hash: c.hash, size: Number(c.size) })),
    };
  }

  @MessagePattern(Subjects.command('files', 'quota'))
  async quota(@Payload() data: unknown): Promise<QuotaView> {
    const { user_id: userId } = z.object({ user_id: userIdSchema }).parse(data);
    const [row] = (await this.db.query(`select quota_bytes, used_bytes from ${SCHEMA}.quotas where user_id = $1`, [userId])) as { quota_bytes: string | null; used_bytes: string }[];
    return { used_bytes: Number(row?.used_bytes ?? 0), quota_bytes: row?.quota_bytes != null ? Number(row.quota_bytes) : (this.options.defaultQuotaBytes ?? 10 * 1024 ** 3) };
  }

  /** Store-wide figures: chunks and bytes stored, bytes of every live file, and their ratio. */
  @MessagePattern(Subjects.command('files', 'stats'))
  async stats(): Promise<FsStats> {
    const stored = await this.chunks.stats();
    const [row] = (await this.db.query(`select coalesce(sum(size), 0)::bigint as logical from ${SCHEMA}.file_chunks`)) as { logical: string }[];
    const logical = Number(row.logical);
    return { chunks: stored.chunks, stored_bytes: stored.bytes, logical_bytes: logical, dedupe_ratio: stored.bytes > 0 ? Math.round((logical / stored.bytes) * 1000) / 1000 : 0 };
  }
}
