import { Module, type DynamicModule } from '@nestjs/common';
import { REALTIME_CALLS, type RealtimeCall } from './calls/call';
import { JobsAttachCall } from './calls/jobs-attach.call';
import { JobsRunCall } from './calls/jobs-run.call';
import { JobOutputTail } from './push/job-output-tail';
import { ServersCommandCall } from './calls/servers-command.call';
import { REALTIME_OPTIONS, resolveRealtimeOptions, type RealtimeOptions } from './realtime.options';
import { RealtimeServer } from './realtime.server';
import { ServerOwners } from './rooms/server-owners';

/** Calls every gateway offers; more come through `forRoot({ calls })`. */
const BUILT_IN_CALLS = [JobsRunCall, JobsAttachCall, ServersCommandCall];

/**
 * The socket.io projection gateway (issue #5): add `RealtimeModule.forRoot()` to the gateway's
 * features. Needs MessagingModule, TypeORM and a PRINCIPAL_RESOLVER somewhere in the app (the
 * gateway module provides all three).
 */
@Module({})
export class RealtimeModule {
  static forRoot(options: RealtimeOptions = {}): DynamicModule {
    const calls = [...BUILT_IN_CALLS, ...(options.calls ?? [])];
    return {
      module: RealtimeModule,
      providers: [
        { provide: REALTIME_OPTIONS, useValue: resolveRealtimeOptions(options) },
        ServerOwners,
        JobOutputTail,
        ...calls,
        { provide: REALTIME_CALLS, useFactory: (...instances: RealtimeCall<any>[]) => instances, inject: calls },
        RealtimeServer,
      ],
      exports: [RealtimeServer],
    };
  }
}
