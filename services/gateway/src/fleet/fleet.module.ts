import { Module, type DynamicModule } from '@nestjs/common';
import { JobsController, NodesController, ServersController, TemplatesController } from './fleet.controllers';
import { AgentTransfers } from './agent-transfers';
import { ServerFileTransfersController } from './server-file-transfers.controller';
import { ServerFilesController } from './server-files.controller';
import { ServerSubusersController } from './server-subusers.controller';

/**
 * REST of the fleet: `/nodes`, `/templates`, `/servers` (and their files and sub-users), `/jobs`. Every route forwards to the nodes
 * service (`cmd.nodes.<verb>`) with the caller as actor; needs the global CommandClient of
 * MessagingModule, PermissionGuard and the `{error, code}` filter of the gateway core.
 */
@Module({})
export class FleetModule {
  static forRoot(): DynamicModule {
    return {
      module: FleetModule,
      controllers: [NodesController, TemplatesController, ServersController, ServerFilesController, ServerFileTransfersController, ServerSubusersController, JobsController],
      providers: [AgentTransfers],
    };
  }
}
