import type { NatsConnectionOptions } from '@encedeus/messaging';
import type { TelemetryIngestOptions } from './ingest/telemetry-ingest';

/** Options of the metrics service (MetricsModule.forRoot). */
export interface MetricsModuleOptions {
  nats: Omit<NatsConnectionOptions, 'name'>;
  databaseUrl: string;
  /** The telemetry consumer: batch size, retention period, its lease. */
  ingest?: TelemetryIngestOptions;
  /** Timeout of an external agent that set none of its own. Env METRICS_AGENT_TIMEOUT_S. @default 20 */
  agentTimeoutS?: number;
}

export const METRICS_OPTIONS = Symbol('METRICS_OPTIONS');
/** The Projector of alert rules (`metrics_alert_rules`). */
export const ALERT_PROJECTOR = Symbol('ALERT_PROJECTOR');
