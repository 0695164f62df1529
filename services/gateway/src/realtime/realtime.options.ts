import type { Type } from '@nestjs/common';
import type { RealtimeCall } from './calls/call';

/** Options of `RealtimeModule.forRoot()`; every field has a production default. */
export interface RealtimeOptions {
  /** How long before a token's expiry `token_expiring` is sent. @default 60000 */
  expiryWarningMs?: number;
  /** Minimum time between two usage pushes of one node or server to one room. @default 1000 */
  usageIntervalMs?: number;
  /** Full re-check of every socket's principal, beside the re-checks identity events trigger. @default 30000 */
  sweepIntervalMs?: number;
  /**
   * Cross-instance socket.io adapter over the gateway's Postgres (`@socket.io/postgres-adapter`).
   * Pushes never go through it (each instance reads NATS itself); it serves fetchSockets,
   * disconnectSockets and emits to rooms across instances. @default true
   */
  postgresAdapter?: boolean;
  /**
   * Transports accepted. Long-polling needs sticky sessions across instances, so only websocket
   * is accepted by default. @default ['websocket']
   */
  transports?: ('websocket' | 'polling')[];
  /** Calls besides the built-in `jobs.run` and `servers.command`; each is a Nest provider class. */
  calls?: Type<RealtimeCall>[];
  /** Most calls one socket may run at once. @default 16 */
  maxCallsPerSocket?: number;
  /** How long a cancelled call may take to clean up before its result is sent for it. @default 10000 */
  cancelGraceMs?: number;
}

export type ResolvedRealtimeOptions = Required<Omit<RealtimeOptions, 'calls'>>;

export const REALTIME_OPTIONS = Symbol('REALTIME_OPTIONS');

export function resolveRealtimeOptions(options: RealtimeOptions): ResolvedRealtimeOptions {
  return {
    expiryWarningMs: options.expiryWarningMs ?? 60_000,
    usageIntervalMs: options.usageIntervalMs ?? 1000,
    sweepIntervalMs: options.sweepIntervalMs ?? 30_000,
    postgresAdapter: options.postgresAdapter ?? true,
    transports: options.transports ?? ['websocket'],
    maxCallsPerSocket: options.maxCallsPerSocket ?? 16,
    cancelGraceMs: options.cancelGraceMs ?? 10_000,
  };
}
