import type { NatsConnectionOptions } from '@encedeus/messaging';
import type { TelemetryIngestOptions } from './ingest/telemetry-ingest';

/** Options of the metrics service (MetricsModule.forRoot). */
export interface MetricsModuleOptions {
  nats: Omit<NatsConnectionOptions, 'name'>;
  databaseUrl: string;
  /** The telemetry consumer: batch size, retention period, its lease. */
  ingest?: TelemetryIngestOptions;
}

export const METRICS_OPTIONS = Symbol('METRICS_OPTIONS');
