import { Inject, Logger, Module, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { AdvisoryLocks, CommandHandler, EventStore, healthControllerFor, Lease, MessagingModule, NATS_CONNECTION, Projector } from '@encedeus/messaging';
import { AgentClient } from '@encedeus/fleet';
import { NODES_OPTIONS, type NodesModuleOptions } from './nodes.options';
import { AgentReports } from './agents/agent-reports';
import { AgentCredentials } from './agents/agent-credentials';
import { Liveness } from './liveness/liveness';
import { nodeDecider } from './domain/node.decider';
import { agentActor, SERVICE_ACTOR } from './domain/agent-server-spec';
import { NodeCommands } from './commands/node.commands';
import { seedBuiltInTemplates, TemplateCommands } from './commands/template.commands';
import { ServerCommands } from './commands/server.commands';
import { ServerFileCommands } from './commands/server-files.handler';
import { ServerReports } from './commands/server-reports.handler';
import { JobCommands } from './commands/job.commands';
import { FleetQueries } from './queries/fleet.queries';
import { FleetReadModel } from './queries/fleet.read-model';
import { FleetProjection } from './projections/fleet.projection';
import { EnrollmentTokens } from './enrollment/enrollment-tokens';
import { JobInputs } from './jobs/job-inputs';
import { UsageCache } from './telemetry/usage-cache';
import { FleetTimers } from './process-managers/fleet-timers';
import { InstallServerProcessManager } from './process-managers/install-server.process-manager';
import { RestartServerProcessManager } from './process-managers/restart-server.process-manager';
import { RevokeSftpSessionsProcessManager } from './process-managers/revoke-sftp-sessions.process-manager';

export type { NodesModuleOptions } from './nodes.options';

const LIVENESS_LEASE = Symbol('LIVENESS_LEASE');

/** Starts and stops the background parts: projector, liveness (and its lease), timers, usage cache, report consumer. */
class FleetLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('nodes');
  private lease?: Lease;

  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(CommandHandler) private readonly kernel: CommandHandler,
    @Inject(Projector) private readonly projector: Projector,
    @Inject(Liveness) private readonly liveness: Liveness,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(AgentCredentials) private readonly creds: AgentCredentials,
    @Inject(EnrollmentTokens) private readonly tokens: EnrollmentTokens,
    @Inject(JobInputs) private readonly jobInputs: JobInputs,
    @Inject(UsageCache) private readonly usage: UsageCache,
    @Inject(FleetReadModel) private readonly readModel: FleetReadModel,
    @Inject(AgentReports) private readonly reports: AgentReports,
    @Inject(FleetTimers) private readonly timers: FleetTimers,
    @Inject(NODES_OPTIONS) private readonly options: NodesModuleOptions,
    @Inject(LIVENESS_LEASE) private readonly leaseOptions: NonNullable<NodesModuleOptions['livenessLease']>,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.tokens.migrate();
    await this.jobInputs.migrate();
    await this.projector.start();
    await this.projector.waitFor(await this.store.lastSequence(), 60_000);
    const nodeFact = (nodeId: string, what: string, command: Parameters<typeof nodeDecider.decide>[0], actor: string) =>
      void this.kernel
        .handle('node', nodeId, nodeDecider, command, { actor }, { conflictRetries: 4 })
        .catch((error) => this.logger.warn(`${what} ${nodeId}: ${(error as Error).message}`));
    this.liveness.on({
      online: (nodeId, at) => {
        nodeFact(nodeId, 'came_online', { type: 'came_online', at: at.toISOString() }, agentActor(nodeId));
        this.reports.syncAfterComingOnline(nodeId, at.getTime());
      },
      offline: (nodeId, lastSeen, missed) => nodeFact(nodeId, 'went_offline', { type: 'went_offline', lastSeenAt: lastSeen?.toISOString() ?? null, missed }, SERVICE_ACTOR),
      heartbeat: (nodeId, hb) => this.creds.renewIfDue(nodeId, hb.creds_expires_at),
    });
    const online: { id: string }[] = await this.db.query(`select id from nodes.nodes where online`);
    this.liveness.seed(online.map((r) => r.id));
    this.agents.onAnswer = (nodeId) => this.liveness.touch(nodeId);
    this.liveness.start();
    this.lease = new Lease(this.nc, {
      service: 'nodes',
      name: 'fleet-liveness',
      ...this.leaseOptions,
      onAcquired: () => {
        this.logger.log(`liveness: this replica sweeps (lease ${this.lease?.holder})`);
        this.liveness.setSweeping(true);
      },
      onLost: (reason) => {
        this.logger.warn(`liveness: lease lost (${reason}); another replica sweeps`);
        this.liveness.setSweeping(false);
      },
      onError: (error) => this.logger.warn(`liveness lease: ${error.message}`),
    });
    await this.lease.start();
    this.usage.start();
    if (!this.options.skipBuiltInTemplates) await seedBuiltInTemplates(this.kernel);
    await this.reports.start();
    await this.timers.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.timers.stop();
    await this.reports.stop();
    await this.lease?.stop();
    await this.liveness.stop();
    this.usage.stop();
    await this.projector.stop();
    if (this.db.isInitialized) await this.db.destroy();
  }
}

/** The nodes service: nodes, enrollment, templates, servers, jobs, liveness (DESIGN.md §7). */
@Module({})
export class NodesModule {
  static forRoot(options: NodesModuleOptions): DynamicModule {
    return {
      module: NodesModule,
      imports: [MessagingModule.forRoot({ service: 'nodes', nats: options.nats })],
      controllers: [NodeCommands, TemplateCommands, ServerCommands, ServerFileCommands, JobCommands, FleetQueries, healthControllerFor('nodes')],
      providers: [
        { provide: NODES_OPTIONS, useValue: options },
        { provide: LIVENESS_LEASE, useValue: options.livenessLease ?? {} },
        {
          provide: DataSource,
          useFactory: () => new DataSource({ type: 'postgres', url: options.databaseUrl, uuidExtension: 'pgcrypto', extra: { max: 20 } }).initialize(),
        },
        { provide: CommandHandler, useFactory: (store: EventStore) => new CommandHandler(store), inject: [EventStore] },
        { provide: AdvisoryLocks, useFactory: (db: DataSource) => new AdvisoryLocks(db), inject: [DataSource] },
        {
          provide: RevokeSftpSessionsProcessManager,
          useFactory: (nc: NatsConnection, store: EventStore, db: DataSource) => new RevokeSftpSessionsProcessManager(nc, store, db),
          inject: [NATS_CONNECTION, EventStore, DataSource],
        },
        {
          provide: Projector,
          // Sessions are told after the commit, so the auth service's re-check reads the change.
          useFactory: (nc: NatsConnection, db: DataSource, sftp: RevokeSftpSessionsProcessManager) =>
            new Projector(nc, db, new FleetProjection(), { batchSize: 500, committed: (events) => sftp.committed(events) }),
          inject: [NATS_CONNECTION, DataSource, RevokeSftpSessionsProcessManager],
        },
        { provide: AgentClient, useFactory: (nc: NatsConnection) => new AgentClient(nc), inject: [NATS_CONNECTION] },
        {
          provide: Liveness,
          // Every replica tracks heartbeats; only the fleet-liveness lease holder sweeps (FleetLifecycle binds the handlers).
          useFactory: (nc: NatsConnection) => new Liveness(nc, { online: () => undefined, offline: () => undefined }, { ...options.liveness, sweeping: false }),
          inject: [NATS_CONNECTION],
        },
        { provide: UsageCache, useFactory: (nc: NatsConnection) => new UsageCache(nc), inject: [NATS_CONNECTION] },
        { provide: EnrollmentTokens, useFactory: (db: DataSource) => new EnrollmentTokens(db), inject: [DataSource] },
        { provide: JobInputs, useFactory: (db: DataSource) => new JobInputs(db), inject: [DataSource] },
        {
          provide: FleetReadModel,
          useFactory: (db: DataSource, liveness: Liveness, usage: UsageCache) => new FleetReadModel(db, liveness, usage),
          inject: [DataSource, Liveness, UsageCache],
        },
        {
          provide: AgentCredentials,
          useFactory: (agents: AgentClient, readModel: FleetReadModel, liveness: Liveness) => new AgentCredentials(agents, readModel, liveness, options),
          inject: [AgentClient, FleetReadModel, Liveness],
        },
        { provide: ServerReports, useFactory: (kernel: CommandHandler) => new ServerReports(kernel), inject: [CommandHandler] },
        {
          provide: InstallServerProcessManager,
          useFactory: (kernel: CommandHandler, store: EventStore, agents: AgentClient, creds: AgentCredentials, liveness: Liveness) =>
            new InstallServerProcessManager(kernel, store, agents, creds, liveness, options.installDeadlineS),
          inject: [CommandHandler, EventStore, AgentClient, AgentCredentials, Liveness],
        },
        {
          provide: RestartServerProcessManager,
          useFactory: (kernel: CommandHandler, agents: AgentClient) => new RestartServerProcessManager(kernel, agents),
          inject: [CommandHandler, AgentClient],
        },
        {
          provide: FleetTimers,
          useFactory: (nc: NatsConnection, readModel: FleetReadModel, installs: InstallServerProcessManager, restarts: RestartServerProcessManager) =>
            new FleetTimers(nc, readModel, installs, restarts, { pollMs: options.timersPollMs, ...options.timersLease }),
          inject: [NATS_CONNECTION, FleetReadModel, InstallServerProcessManager, RestartServerProcessManager],
        },
        {
          provide: AgentReports,
          useFactory: (
            nc: NatsConnection,
            store: EventStore,
            kernel: CommandHandler,
            servers: ServerReports,
            readModel: FleetReadModel,
            agents: AgentClient,
            creds: AgentCredentials,
            liveness: Liveness,
          ) => new AgentReports(nc, store, kernel, servers, readModel, agents, creds, liveness),
          inject: [NATS_CONNECTION, EventStore, CommandHandler, ServerReports, FleetReadModel, AgentClient, AgentCredentials, Liveness],
        },
        FleetLifecycle,
      ],
    };
  }
}
