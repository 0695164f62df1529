import { Inject, Module, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { DirectoryChunkStore, JetStreamChunkStore, type ChunkStore, type GraceBound } from '@encedeus/chunks';
import { DEFAULT_QUOTA_BYTES } from '@encedeus/contracts';
import { CommandHandler, EventStore, healthControllerFor, MessagingModule, NATS_CONNECTION, Projector } from '@encedeus/messaging';
import { FILES_OPTIONS, type FilesModuleOptions } from './files.options';
import { CHUNK_STORE, FILES_DB } from './files.tokens';
import { FilesCommands } from './commands/files.commands';
import { FilesQueries } from './queries/files.queries';
import { FilesProjection } from './projections/files.projection';
import { ChunkGc } from './gc/chunk-gc';
import { AgentClient } from '@encedeus/fleet';
import { BackupCommands } from './backups/backups.commands';
import { BackupSessions } from './backups/backup-sessions';
import { BackupProcessManager } from './backups/backup.process-manager';
import { BackupChunks } from './backups/backup-chunks';

export type { FilesModuleOptions } from './files.options';

/** Starts and stops the projector and the garbage collector. */
class FilesLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(FILES_DB) private readonly db: DataSource,
    @Inject(Projector) private readonly projector: Projector,
    @Inject(ChunkGc) private readonly gc: ChunkGc,
    @Inject(BackupProcessManager) private readonly backups: BackupProcessManager,
    @Inject(BackupChunks) private readonly backupChunks: BackupChunks,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.projector.start();
    await this.projector.waitFor(await this.store.lastSequence(), 60_000);
    await this.gc.start();
    this.backupChunks.start();
    await this.backups.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.backups.stop();
    this.backupChunks.stop();
    await this.gc.stop();
    await this.projector.stop();
    if (this.db.isInitialized) await this.db.destroy();
  }
}

/** The files service: per-user VFS and raw files on the deduplicated chunk store (issue 10, docs/files.md). */
@Module({})
export class FilesModule {
  static forRoot(options: FilesModuleOptions): DynamicModule {
    return {
      module: FilesModule,
      imports: [MessagingModule.forRoot({ service: 'files', nats: options.nats })],
      controllers: [FilesCommands, FilesQueries, BackupCommands, healthControllerFor('files')],
      providers: [
        { provide: FILES_OPTIONS, useValue: { ...options, defaultQuotaBytes: options.defaultQuotaBytes ?? DEFAULT_QUOTA_BYTES } },
        {
          provide: FILES_DB,
          useFactory: () => new DataSource({ type: 'postgres', url: options.databaseUrl, uuidExtension: 'pgcrypto', extra: { max: 10 } }).initialize(),
        },
        {
          provide: CHUNK_STORE,
          useFactory: (nc: NatsConnection): Promise<ChunkStore & GraceBound> | ChunkStore =>
            options.chunkDir ? new DirectoryChunkStore(options.chunkDir) : JetStreamChunkStore.open(nc),
          inject: [NATS_CONNECTION],
        },
        { provide: CommandHandler, useFactory: (store: EventStore) => new CommandHandler(store), inject: [EventStore] },
        {
          provide: Projector,
          useFactory: (nc: NatsConnection, db: DataSource, chunks: ChunkStore) => new Projector(nc, db, new FilesProjection(chunks), { batchSize: 500 }),
          inject: [NATS_CONNECTION, FILES_DB, CHUNK_STORE],
        },
        {
          provide: ChunkGc,
          useFactory: (nc: NatsConnection, db: DataSource, store: EventStore, projector: Projector, chunks: ChunkStore & GraceBound) =>
            new ChunkGc(nc, db, store, projector, chunks, {
              graceMs: Math.max(options.gc?.graceMs ?? 10 * 60_000, chunks.minGraceMs ?? 0),
              intervalMs: options.gc?.intervalMs ?? 10 * 60_000,
              lease: options.gc?.lease,
            }),
          inject: [NATS_CONNECTION, FILES_DB, EventStore, Projector, CHUNK_STORE],
        },
        { provide: BackupSessions, useFactory: (db: DataSource) => new BackupSessions(db), inject: [FILES_DB] },
        {
          provide: BackupProcessManager,
          useFactory: (nc: NatsConnection, db: DataSource, kernel: CommandHandler, store: EventStore, sessions: BackupSessions) =>
            new BackupProcessManager(nc, db, kernel, store, new AgentClient(nc), sessions, {
              stallMs: options.backups?.stallMs ?? 2 * 60_000,
              sweepMs: options.backups?.sweepMs ?? 5000,
              lease: options.backups?.lease,
            }),
          inject: [NATS_CONNECTION, FILES_DB, CommandHandler, EventStore, BackupSessions],
        },
        {
          provide: BackupChunks,
          useFactory: (nc: NatsConnection, chunks: ChunkStore, sessions: BackupSessions) => new BackupChunks(nc, chunks, sessions),
          inject: [NATS_CONNECTION, CHUNK_STORE, BackupSessions],
        },
        FilesLifecycle,
      ],
    };
  }
}
