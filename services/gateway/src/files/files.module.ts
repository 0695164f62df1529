import { Module, type DynamicModule } from '@nestjs/common';
import { QuotaController, RawFilesController, VfsController } from './files.controllers';
import { FILES_GATEWAY_OPTIONS, GatewayChunkStore, type FilesGatewayOptions } from './gateway-chunk-store';
import { ServerBackupsController } from '../fleet/server-backups.controller';

/**
 * REST of the files service (issue 10): `/files` (raw files), `/fs` (per-user VFS), `PUT
 * /users/:id/quota`. The gateway streams bytes itself (chunks into CHUNKS, read back by direct
 * get); metadata, quota and authorisation per user are the files service's (`cmd.files.<verb>`).
 */
@Module({})
export class FilesModule {
  static forRoot(options: FilesGatewayOptions = { chunkDir: process.env.FILES_CHUNK_DIR || undefined }): DynamicModule {
    return {
      module: FilesModule,
      // Server backups live here beside the chunk store they stream downloads from (issue 11, docs/backups.md).
      controllers: [RawFilesController, VfsController, QuotaController, ServerBackupsController],
      providers: [{ provide: FILES_GATEWAY_OPTIONS, useValue: options }, GatewayChunkStore],
    };
  }
}
