import type { EntityManager } from 'typeorm';
import { Logger } from '@nestjs/common';
import { readChunks, type ChunkStore } from '@encedeus/chunks';
import {
  BackupCompleted,
  BackupDeleted,
  BackupFailed,
  BackupProgressed,
  BackupRequested,
  BackupRestored,
  BackupRestoreFailed,
  BackupRestoreProgressed,
  BackupRestoreRequested,
  BackupRestoreStarted,
  BackupStarted,
  backupManifestSchema,
  type BackupManifest,
  type CloudEvent,
  type FileChunkRef,
} from '@encedeus/contracts';

const SCHEMA = 'files';

/** Reads and parses a backup's manifest from its chunks (JSON, UTF-8). Throws when a chunk is missing or the JSON is not a manifest. */
export async function readManifest(chunks: ChunkStore, refs: readonly FileChunkRef[]): Promise<BackupManifest> {
  const parts: Buffer[] = [];
  for await (const part of readChunks(chunks, refs)) parts.push(part);
  return backupManifestSchema.parse(JSON.parse(Buffer.concat(parts).toString('utf8')));
}

/**
 * The backups part of the files read model (FilesProjection calls it for `evt.backup.*`):
 * `files.backups` (one row per backup that is not deleted; lists, the process manager's sweep) and
 * `files.backup_chunks` (every chunk a completed backup references, its manifest's own included:
 * part of the garbage collector's live set). The chunk list is read from the manifest, which is
 * content-addressed and so reads the same on every replay; a manifest that is gone (its backup was
 * deleted and collected) adds only the manifest's own hashes, and the deletion that follows removes them.
 */
export class BackupsProjection {
  private readonly logger = new Logger('files/backups-projection');

  constructor(private readonly chunks?: ChunkStore) {}

  readonly tables = [`${SCHEMA}.backups`, `${SCHEMA}.backup_chunks`];

  async migrate(em: EntityManager): Promise<void> {
    await em.query(`create table if not exists ${SCHEMA}.backups (
      id uuid primary key, server_id uuid not null, node_id text not null, owner_id text not null, name text not null,
      status text not null, size bigint not null default 0, new_bytes bigint not null default 0, files_count int not null default 0,
      progress_bytes bigint not null default 0, reason text, created_at timestamptz not null, started_at timestamptz,
      progressed_at timestamptz not null, completed_at timestamptz,
      restore_id uuid, restore_status text, restore_path text, restore_reason text, restore_node_id text,
      restore_requested_at timestamptz, restore_progressed_at timestamptz, restore_completed_at timestamptz)`);
    await em.query(`create index if not exists backups_server_idx on ${SCHEMA}.backups (server_id, created_at desc, id)`);
    await em.query(`create index if not exists backups_status_idx on ${SCHEMA}.backups (status)`);
    await em.query(`create table if not exists ${SCHEMA}.backup_chunks (backup_id uuid not null, hash text not null, primary key (backup_id, hash))`);
    await em.query(`create index if not exists backup_chunks_hash_idx on ${SCHEMA}.backup_chunks (hash)`);
    // Command-side state of backups in progress (not events: never rebuilt, never dropped by a rebuild).
    // A session is what one agent was given for one backup or restore: the token's SHA-256, the node, bytes it sent.
    await em.query(`create table if not exists ${SCHEMA}.backup_sessions (
      token_sha256 text primary key, backup_id uuid not null, kind text not null, restore_id uuid, node_id text not null,
      new_bytes bigint not null default 0, created_at timestamptz not null default now())`);
    await em.query(`create index if not exists backup_sessions_backup_idx on ${SCHEMA}.backup_sessions (backup_id)`);
    // Chunks a running backup relies on (asked about or sent): live for the collector until the backup ends.
    await em.query(`create table if not exists ${SCHEMA}.backup_refs (backup_id uuid not null, hash text not null, primary key (backup_id, hash))`);
  }

  async apply(em: EntityManager, backupId: string, e: CloudEvent): Promise<void> {
    const d = e.data as Record<string, any>;
    switch (e.type) {
      case BackupRequested.type:
        await em.query(
          `insert into ${SCHEMA}.backups (id, server_id, node_id, owner_id, name, status, created_at, progressed_at) values ($1,$2,$3,$4,$5,'pending',$6,$6)
           on conflict (id) do nothing`,
          [backupId, d.server_id, d.node_id, d.owner_id, d.name, e.time],
        );
        return;
      case BackupStarted.type:
        await em.query(`update ${SCHEMA}.backups set status = 'running', started_at = $2, progressed_at = $2 where id = $1`, [backupId, e.time]);
        return;
      case BackupProgressed.type:
        await em.query(`update ${SCHEMA}.backups set progressed_at = $2, progress_bytes = $3 where id = $1`, [backupId, e.time, d.bytes]);
        return;
      case BackupCompleted.type: {
        await em.query(`update ${SCHEMA}.backups set status = 'completed', size = $2, new_bytes = $3, files_count = $4, completed_at = $5, progress_bytes = $2 where id = $1`, [
          backupId,
          d.size,
          d.new_bytes,
          d.files_count,
          e.time,
        ]);
        await this.insertChunks(em, backupId, await this.chunksOf(backupId, d.manifest));
        return;
      }
      case BackupFailed.type:
        await em.query(`update ${SCHEMA}.backups set status = 'failed', reason = $2, completed_at = $3 where id = $1`, [backupId, d.reason, e.time]);
        return;
      case BackupDeleted.type:
        await em.query(`delete from ${SCHEMA}.backup_chunks where backup_id = $1`, [backupId]);
        await em.query(`delete from ${SCHEMA}.backups where id = $1`, [backupId]);
        return;
      case BackupRestoreRequested.type:
        await em.query(
          `update ${SCHEMA}.backups set restore_id = $2, restore_status = 'pending', restore_path = $3, restore_node_id = $4, restore_reason = null,
             restore_requested_at = $5, restore_progressed_at = $5, restore_completed_at = null where id = $1`,
          [backupId, d.restore_id, d.path, d.node_id, e.time],
        );
        return;
      case BackupRestoreStarted.type:
        await em.query(`update ${SCHEMA}.backups set restore_status = 'running', restore_progressed_at = $3 where id = $1 and restore_id = $2`, [backupId, d.restore_id, e.time]);
        return;
      case BackupRestoreProgressed.type:
        await em.query(`update ${SCHEMA}.backups set restore_progressed_at = $3 where id = $1 and restore_id = $2`, [backupId, d.restore_id, e.time]);
        return;
      case BackupRestored.type:
        await em.query(`update ${SCHEMA}.backups set restore_status = 'completed', restore_completed_at = $3 where id = $1 and restore_id = $2`, [backupId, d.restore_id, e.time]);
        return;
      case BackupRestoreFailed.type:
        await em.query(`update ${SCHEMA}.backups set restore_status = 'failed', restore_reason = $3, restore_completed_at = $4 where id = $1 and restore_id = $2`, [
          backupId,
          d.restore_id,
          d.reason,
          e.time,
        ]);
        return;
      default:
    }
  }

  /** Every chunk hash of a completed backup: its manifest's and those of every file the manifest lists. */
  private async chunksOf(backupId: string, manifest: FileChunkRef[]): Promise<string[]> {
    const hashes = new Set(manifest.map((c) => c.hash));
    if (!this.chunks) return [...hashes];
    try {
      for (const entry of (await readManifest(this.chunks, manifest)).entries) for (const c of entry.chunks ?? []) hashes.add(c.hash);
    } catch (error) {
      this.logger.warn(`backup ${backupId}: its manifest cannot be read (${(error as Error).message}); only the manifest's own chunks are listed`);
    }
    return [...hashes];
  }

  private async insertChunks(em: EntityManager, backupId: string, hashes: string[]): Promise<void> {
    for (let i = 0; i < hashes.length; i += 5000) {
      await em.query(`insert into ${SCHEMA}.backup_chunks (backup_id, hash) select $1, h from unnest($2::text[]) as t(h) on conflict do nothing`, [backupId, hashes.slice(i, i + 5000)]);
    }
  }
}
