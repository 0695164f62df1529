import { Inject, Module, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { EventStore, healthControllerFor, MessagingModule, NATS_CONNECTION, type NatsConnectionOptions } from '@encedeus/messaging';
import { agentActor, FleetCore, type NodesOptions } from './fleet-core';
import { AgentReports } from './agents/agent-reports';
import { ServerOps } from './servers/server-ops';
import { Liveness } from './liveness/liveness';
import { KeyedMutex } from './common/keyed-mutex';
import { nodeReducer, decideCameOnline, decideWentOffline } from './domain/node.decider';
import { NodeCommands } from './commands/node.commands';
import { seedBuiltInTemplates, TemplateCommands } from './commands/template.commands';
import { ServerCommands } from './commands/server.commands';
import { JobCommands } from './commands/job.commands';
import { FleetQueries } from './queries/fleet.queries';
import { SCHEMA } from './projections/fleet.projection';

export interface NodesModuleOptions extends NodesOptions {
  nats: Omit<NatsConnectionOptions, 'name'>;
  databaseUrl: string;
}

/** Starts and stops the background parts: projector, liveness, usage cache, report consumer. */
class FleetLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly livenessLocks = new KeyedMutex();

  constructor(
    @Inject(FleetCore) private readonly fleet: FleetCore,
    @Inject(AgentReports) private readonly reports: AgentReports,
    @Inject(ServerOps) private readonly servers: ServerOps,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const fleet = this.fleet;
    await fleet.tokens.migrate();
    await fleet.projector.start();
    await fleet.projector.waitFor(await fleet.store.lastSequence(), 60_000);
    fleet.liveness = new Liveness(
      fleet.nc,
      {
        online: (nodeId, at) => {
          void this.livenessLocks
            .run(nodeId, () => fleet.execute('node', nodeId, nodeReducer, (s) => decideCameOnline(s, at.toISOString()), { actor: agentActor(nodeId) }))
            .catch((error) => fleet.logger.warn(`came_online ${nodeId}: ${(error as Error).message}`));
          this.reports.syncAfterComingOnline(nodeId, at.getTime());
        },
        offline: (nodeId, lastSeen, missed) =>
          void this.livenessLocks
            .run(nodeId, () => fleet.execute('node', nodeId, nodeReducer, (s) => decideWentOffline(s, lastSeen?.toISOString() ?? null, missed), { actor: 'service:nodes' }))
            .catch((error) => fleet.logger.warn(`went_offline ${nodeId}: ${(error as Error).message}`)),
        heartbeat: (nodeId, hb) => fleet.renewAgentCredsIfDue(nodeId, hb.creds_expires_at),
      },
      fleet.options.liveness,
    );
    const online: { id: string }[] = await fleet.db.query(`select id from ${SCHEMA}.nodes where online`);
    fleet.liveness.seed(online.map((r) => r.id));
    fleet.agents.onAnswer = (nodeId) => fleet.liveness.touch(nodeId);
    fleet.liveness.start();
    fleet.usage.start();
    if (!fleet.options.skipBuiltInTemplates) await seedBuiltInTemplates(fleet);
    await this.reports.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.servers.close();
    await this.reports.stop();
    await this.fleet.liveness?.stop();
    this.fleet.usage.stop();
    await this.fleet.projector.stop();
    if (this.fleet.db.isInitialized) await this.fleet.db.destroy();
  }
}

/** The nodes service: nodes, enrollment, templates, servers, jobs, liveness (DESIGN.md §7). */
@Module({})
export class NodesModule {
  static forRoot(options: NodesModuleOptions): DynamicModule {
    return {
      module: NodesModule,
      imports: [MessagingModule.forRoot({ service: 'nodes', nats: options.nats })],
      controllers: [NodeCommands, TemplateCommands, ServerCommands, JobCommands, FleetQueries, healthControllerFor('nodes')],
      providers: [
        {
          provide: DataSource,
          useFactory: () =>
            new DataSource({ type: 'postgres', url: options.databaseUrl, uuidExtension: 'pgcrypto', extra: { max: 20 } }).initialize(),
        },
        {
          provide: FleetCore,
          useFactory: (nc: NatsConnection, store: EventStore, db: DataSource) => new FleetCore(nc, store, db, options),
          inject: [NATS_CONNECTION, EventStore, DataSource],
        },
        { provide: ServerOps, useFactory: (fleet: FleetCore) => new ServerOps(fleet), inject: [FleetCore] },
        { provide: AgentReports, useFactory: (fleet: FleetCore, servers: ServerOps) => new AgentReports(fleet, servers), inject: [FleetCore, ServerOps] },
        FleetLifecycle,
      ],
      exports: [FleetCore],
    };
  }
}
