import type { EntityManager } from 'typeorm';
import type { Projection } from '@encedeus/messaging';
import { FileDeleted, FileMoved, FileUploaded, FolderCreated, QuotaSet, type CloudEvent, type RecordedEvent } from '@encedeus/contracts';
import type { ChunkStore } from '@encedeus/chunks';
import { BackupsProjection } from '../backups/backups.projection';

export const SCHEMA = 'files';

/** The parent folder of a path column, in SQL (`/a/b` → `/a`, `/a` → `/`). */
const parentSql = (col: string) => `(case when strpos(substr(${col}, 2), '/') = 0 then '/' else regexp_replace(${col}, '/[^/]*$', '') end)`;
/** `col` is `$n` or lies below it (no LIKE: names may hold `%` and `_`). */
const withinSql = (col: string, n: number) => `(${col} = $${n} or left(${col}, length($${n}) + 1) = $${n} || '/')`;

/**
 * Read model of the files service in schema `files`: VFS entries per user, raw files, each file's
 * chunk list (the live set of the garbage collector, logical bytes of the stats) and quotas.
 */
export class FilesProjection implements Projection {
  readonly name = 'files_read_model';
  // Every event, other aggregates ignored (as the nodes and users projections do): the checkpoint then
  // follows the whole stream, so waitFor(EventStore.lastSequence()) at boot and before a collection ends.
  readonly filterSubject = 'evt.>';
  readonly schema = SCHEMA;
  private readonly backups: BackupsProjection;
  readonly tables: string[];

  /** `chunks`: where backup manifests are read (the chunk lists of completed backups, see BackupsProjection). */
  constructor(chunks?: ChunkStore) {
    this.backups = new BackupsProjection(chunks);
    this.tables = [`${SCHEMA}.entries`, `${SCHEMA}.raw_files`, `${SCHEMA}.file_chunks`, `${SCHEMA}.quotas`, ...this.backups.tables];
  }

  async migrate(em: EntityManager): Promise<void> {
    await em.query(`create table if not exists ${SCHEMA}.entries (
      user_id text not null, path text not null, parent text not null, name text not null, type text not null,
      size bigint not null default 0, sha256 text, file_id uuid, modified timestamptz not null, primary key (user_id, path))`);
    await em.query(`create index if not exists entries_parent_idx on ${SCHEMA}.entries (user_id, parent, name)`);
    await em.query(`create table if not exists ${SCHEMA}.raw_files (
      id uuid primary key, user_id text not null, name text not null, size bigint not null, sha256 text not null,
      chunks_count int not null, created_at timestamptz not null)`);
    await em.query(`create index if not exists raw_files_user_idx on ${SCHEMA}.raw_files (user_id, created_at, id)`);
    await em.query(`create table if not exists ${SCHEMA}.file_chunks (
      file_id uuid not null, n int not null, hash text not null, size bigint not null, primary key (file_id, n))`);
    await em.query(`create index if not exists file_chunks_hash_idx on ${SCHEMA}.file_chunks (hash)`);
    await em.query(`create table if not exists ${SCHEMA}.quotas (user_id text primary key, quota_bytes bigint, used_bytes bigint not null default 0)`);
    await em.query(`create table if not exists ${SCHEMA}.upload_reservations (
      upload_id uuid primary key, user_id text not null, bytes bigint not null, expires_at timestamptz not null)`);
    // When the upload began: the garbage collector keeps every chunk stored since the oldest live one began.
    await em.query(`alter table ${SCHEMA}.upload_reservations add column if not exists started_at timestamptz not null default now()`);
    await this.backups.migrate(em);
  }

  async apply(em: EntityManager, events: RecordedEvent[]): Promise<void> {
    for (const { event } of events) {
      const [aggregate, userId] = event.subject.split('/');
      if (aggregate === 'file') await this.drive(em, userId, event);
      else if (aggregate === 'backup') await this.backups.apply(em, userId, event);
    }
  }

  private async used(em: EntityManager, userId: string, delta: number): Promise<void> {
    await em.query(
      `insert into ${SCHEMA}.quotas (user_id, used_bytes) values ($1, $2)
       on conflict (user_id) do update set used_bytes = ${SCHEMA}.quotas.used_bytes + excluded.used_bytes`,
      [userId, delta],
    );
  }

  private async dropFiles(em: EntityManager, fileIds: string[]): Promise<void> {
    if (fileIds.length > 0) await em.query(`delete from ${SCHEMA}.file_chunks where file_id = any($1::uuid[])`, [fileIds]);
  }

  private async drive(em: EntityManager, userId: string, e: CloudEvent): Promise<void> {
    const d = e.data as Record<string, any>;
    switch (e.type) {
      case FolderCreated.type:
        await em.query(
          `insert into ${SCHEMA}.entries (user_id, path, parent, name, type, modified) values ($1, $2::text, ${parentSql('$2::text')}, $3, 'folder', $4)
           on conflict (user_id, path) do nothing`,
          [userId, d.path, d.path.slice(d.path.lastIndexOf('/') + 1), e.time],
        );
        return;
      case FileUploaded.type: {
        if (d.path === null) {
          await em.query(
            `insert into ${SCHEMA}.raw_files (id, user_id, name, size, sha256, chunks_count, created_at) values ($1,$2,$3,$4,$5,$6,$7) on conflict (id) do nothing`,
            [d.file_id, userId, d.name, d.size, d.sha256, d.chunks.length, e.time],
          );
          await this.used(em, userId, d.size);
        } else {
          const [old] = (await em.query(`select file_id, size from ${SCHEMA}.entries where user_id = $1 and path = $2`, [userId, d.path])) as { file_id: string; size: string }[];
          if (old?.file_id === d.file_id) return; // redelivered
          if (old) await this.dropFiles(em, [old.file_id]);
          await em.query(
            `insert into ${SCHEMA}.entries (user_id, path, parent, name, type, size, sha256, file_id, modified)
             values ($1, $2::text, ${parentSql('$2::text')}, $3, 'file', $4, $5, $6, $7)
             on conflict (user_id, path) do update set size = excluded.size, sha256 = excluded.sha256, file_id = excluded.file_id, modified = excluded.modified`,
            [userId, d.path, d.path.slice(d.path.lastIndexOf('/') + 1), d.size, d.sha256, d.file_id, e.time],
          );
          await this.used(em, userId, d.size - Number(old?.size ?? 0));
        }
        await em.query(`delete from ${SCHEMA}.file_chunks where file_id = $1`, [d.file_id]);
        const chunks = d.chunks as { hash: string; size: number }[];
        for (let i = 0; i < chunks.length; i += 1000) {
          const part = chunks.slice(i, i + 1000);
          await em.query(
            `insert into ${SCHEMA}.file_chunks (file_id, n, hash, size) select $1, n, h, s from unnest($2::int[], $3::text[], $4::bigint[]) as t(n, h, s)`,
            [d.file_id, part.map((_, k) => i + k), part.map((c) => c.hash), part.map((c) => c.size)],
          );
        }
        return;
      }
      case FileMoved.type:
        await em.query(
          `update ${SCHEMA}.entries set path = $3 || substr(path, length($2) + 1),
             parent = ${parentSql(`($3 || substr(path, length($2) + 1))`)},
             name = case when path = $2 then $4 else name end,
             modified = case when path = $2 then $5::timestamptz else modified end
           where user_id = $1 and ${withinSql('path', 2)}`,
          [userId, d.old_path, d.new_path, d.new_path.slice(d.new_path.lastIndexOf('/') + 1), e.time],
        );
        return;
      case FileDeleted.type: {
        if (d.file_id) {
          const rows = (await em.query(`select size from ${SCHEMA}.raw_files where id = $1 and user_id = $2`, [d.file_id, userId])) as { size: string }[];
          await em.query(`delete from ${SCHEMA}.raw_files where id = $1 and user_id = $2`, [d.file_id, userId]);
          await this.dropFiles(em, [d.file_id]);
          if (rows.length > 0) await this.used(em, userId, -Number(rows[0].size));
          return;
        }
        const rows = (await em.query(`select file_id, size from ${SCHEMA}.entries where user_id = $1 and type = 'file' and ${withinSql('path', 2)}`, [userId, d.path])) as {
          file_id: string;
          size: string;
        }[];
        await this.dropFiles(em, rows.map((r) => r.file_id));
        await em.query(`delete from ${SCHEMA}.entries where user_id = $1 and ${withinSql('path', 2)}`, [userId, d.path]);
        await this.used(em, userId, -rows.reduce((n, r) => n + Number(r.size), 0));
        return;
      }
      case QuotaSet.type:
        await em.query(
          `insert into ${SCHEMA}.quotas (user_id, quota_bytes) values ($1, $2) on conflict (user_id) do update set quota_bytes = excluded.quota_bytes`,
          [userId, d.bytes],
        );
        return;
      default:
    }
  }
}
