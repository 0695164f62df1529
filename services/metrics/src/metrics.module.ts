import { Inject, Module, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { CommandHandler, EventStore, healthControllerFor, MessagingModule, NATS_CONNECTION, Projector } from '@encedeus/messaging';
import { ALERT_PROJECTOR, METRICS_OPTIONS, type MetricsModuleOptions } from './metrics.options';
import { AlertEvaluator } from './alerts/alert-evaluator';
import { AlertRulesHandlers } from './alerts/alert-rules.handlers';
import { AlertRulesProjection } from './alerts/alert-rules.projection';
import { MetricsStore } from './storage/metrics-store';
import { TelemetryIngest } from './ingest/telemetry-ingest';
import { MetricsQueries } from './queries/metrics.queries';
import { ActivityMonitor } from './agents/activity-monitor';
import { AgentDataWriter } from './agents/agent-data-writer';
import { AgentsHandlers } from './agents/agents.handlers';

export type { MetricsModuleOptions } from './metrics.options';

/** Starts and stops the telemetry ingest and the external agents' activity monitor. */
class MetricsLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(TelemetryIngest) private readonly ingest: TelemetryIngest,
    @Inject(ActivityMonitor) private readonly monitor: ActivityMonitor,
    @Inject(AgentDataWriter) private readonly writer: AgentDataWriter,
    @Inject(ALERT_PROJECTOR) private readonly alerts: Projector,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.alerts.start();
    await this.ingest.start();
    await this.monitor.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.monitor.stop();
    await this.writer.flush();
    await this.ingest.stop();
    await this.alerts.stop();
    if (this.db.isInitialized) await this.db.destroy();
  }
}

/** The metrics service: usage history of nodes and servers from `tel.>`, external agents (seed 002), alert rules (issue 12, docs/metrics.md). */
@Module({})
export class MetricsModule {
  static forRoot(options: MetricsModuleOptions): DynamicModule {
    return {
      module: MetricsModule,
      imports: [MessagingModule.forRoot({ service: 'metrics', nats: options.nats })],
      controllers: [MetricsQueries, AgentsHandlers, AlertRulesHandlers, healthControllerFor('metrics')],
      providers: [
        { provide: METRICS_OPTIONS, useValue: options },
        {
          provide: DataSource,
          useFactory: () => new DataSource({ type: 'postgres', url: options.databaseUrl, uuidExtension: 'pgcrypto', extra: { max: 10 } }).initialize(),
        },
        {
          provide: MetricsStore,
          useFactory: async (db: DataSource) => {
            const store = new MetricsStore(db);
            await store.migrate();
            return store;
          },
          inject: [DataSource],
        },
        {
          provide: TelemetryIngest,
          useFactory: (nc: NatsConnection, store: MetricsStore, alerts: AlertEvaluator) => new TelemetryIngest(nc, store, { ...options.ingest, afterWrite: (samples) => alerts.evaluate(samples) }),
          inject: [NATS_CONNECTION, MetricsStore, AlertEvaluator],
        },
        { provide: AlertEvaluator, useFactory: (db: DataSource, kernel: CommandHandler) => new AlertEvaluator(db, kernel), inject: [DataSource, CommandHandler] },
        { provide: ALERT_PROJECTOR, useFactory: (nc: NatsConnection, db: DataSource) => new Projector(nc, db, new AlertRulesProjection()), inject: [NATS_CONNECTION, DataSource] },
        { provide: CommandHandler, useFactory: (store: EventStore) => new CommandHandler(store), inject: [EventStore] },
        {
          provide: ActivityMonitor,
          useFactory: (nc: NatsConnection, kernel: CommandHandler) => new ActivityMonitor(nc, kernel, { defaultTimeoutS: options.agentTimeoutS }),
          inject: [NATS_CONNECTION, CommandHandler],
        },
        { provide: AgentDataWriter, useFactory: (store: MetricsStore) => new AgentDataWriter(store), inject: [MetricsStore] },
        MetricsLifecycle,
      ],
    };
  }
}
