import type { NatsConnectionOptions } from '@encedeus/messaging';

/** Options of the files service (FilesModule.forRoot). */
export interface FilesModuleOptions {
  nats: Omit<NatsConnectionOptions, 'name'>;
  databaseUrl: string;
  /** Quota of a user nobody set one for. @default DEFAULT_QUOTA_BYTES (10 GiB) */
  defaultQuotaBytes?: number;
  /** Keep chunks in this folder (DirectoryChunkStore, one machine; the gateway must use the same one) instead of the CHUNKS stream. */
  chunkDir?: string;
  /** Server backups (docs/backups.md). */
  backups?: {
    /** Backups per server that are not failed. @default DEFAULT_BACKUP_LIMIT (10) */
    limit?: number;
    /** A backup or restore with no progress from its agent for this long ends failed. @default 2 min */
    stallMs?: number;
    /** How often the lease holder hands out pending work and looks for stalled work. @default 5 s */
    sweepMs?: number;
    /** The `backups` lease. @default { ttlMs: 5000 } */
    lease?: { ttlMs?: number; renewMs?: number };
  };
  gc?: {
    /** Chunks written less than this long ago are never collected (uploads in flight). @default 10 min (at least the store's minimum, 2 min for JetStream) */
    graceMs?: number;
    /** Pause between two collections of the lease holder. @default 10 min */
    intervalMs?: number;
    /** The `chunk-gc` lease. @default { ttlMs: 5000 } */
    lease?: { ttlMs?: number; renewMs?: number };
  };
}

export const FILES_OPTIONS = Symbol('FILES_OPTIONS');
