import { z } from 'zod';

/*
 * The metrics service's REST and NATS contract (issue 12, docs/metrics.md): usage history of nodes
 * and servers from raw samples and rollups. Pure and free of runtime imports beyond zod, so the
 * console can import it.
 */

/** At most this many points in one answer of `GET /metrics`. */
export const METRICS_MAX_POINTS = 1000;
/** The longest range one query may ask for (the 1-hour rollups are kept one year). */
export const METRICS_MAX_RANGE_MS = 366 * 24 * 3600_000;
/** How long each resolution is kept: raw samples 48 h, 1-minute rollups 30 d, 1-hour rollups 1 y. */
export const METRICS_RETENTION_MS = { raw: 48 * 3600_000, '1m': 30 * 24 * 3600_000, '1h': 365 * 24 * 3600_000 } as const;
/** Where an answer's points come from. */
export type MetricsResolution = keyof typeof METRICS_RETENTION_MS;

/** The fields of every point (averages over the point's step). */
export const METRICS_FIELDS = ['cpu_percent', 'memory_bytes', 'disk_bytes', 'net_rx', 'net_tx'] as const;
export type MetricsField = (typeof METRICS_FIELDS)[number];

/** `node:<uuid>`, `server:<uuid>`, or `fleet` (every node: CPU averaged, the rest summed). */
export const metricsTargetSchema = z
  .string()
  .regex(/^((node|server):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|fleet)$/i, { message: 'must be node:<uuid>, server:<uuid> or fleet' })
  .transform((t) => t.toLowerCase());

const UNIT_S: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds of a step: a whole number of seconds, or `30s`, `5m`, `1h`, `1d`; undefined when it is neither. */
export function parseStep(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  const match = /^(\d{1,9})([smhd]?)$/.exec(value.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * UNIT_S[match[2] || 's'];
  return seconds > 0 ? seconds : undefined;
}

/** Epoch ms of a time: epoch milliseconds (number or digits) or an ISO 8601 date; undefined when it is neither. */
export function parseTime(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  const t = /^\d{1,15}$/.test(value.trim()) ? Number(value) : Date.parse(value);
  return Number.isFinite(t) ? t : undefined;
}

/** Steps a default answer picks from, the smallest giving at most DEFAULT_POINTS points. */
const NICE_STEPS_S = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
const DEFAULT_POINTS = 300;

/** The step a query without one gets: the smallest nice step giving at most 300 points. */
export function defaultStep(rangeMs: number): number {
  return NICE_STEPS_S.find((s) => rangeMs / 1000 / s <= DEFAULT_POINTS) ?? 86400;
}

const timeInput = z.union([z.number(), z.string().max(40)]);

/**
 * `GET /metrics?target&from&to&step`: `from`/`to` are epoch ms or ISO dates (default: the last hour),
 * `step` seconds or `30s`/`5m`/`1h`/`1d` (default: from the range). 422 when `to` is not after
 * `from`, the range is longer than a year, or it would give more than METRICS_MAX_POINTS points.
 */
export const metricsQuerySchema = z
  .object({
    target: metricsTargetSchema,
    from: timeInput.optional(),
    to: timeInput.optional(),
    step: z.union([z.number(), z.string().max(20)]).optional(),
  })
  .transform((q, ctx) => {
    const to = q.to === undefined ? Date.now() : parseTime(q.to);
    if (to === undefined) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be epoch milliseconds or an ISO 8601 date' });
    const from = q.from === undefined ? (to ?? Date.now()) - 3600_000 : parseTime(q.from);
    if (from === undefined) ctx.addIssue({ code: 'custom', path: ['from'], message: 'must be epoch milliseconds or an ISO 8601 date' });
    const step = q.step === undefined ? undefined : parseStep(q.step);
    if (q.step !== undefined && step === undefined) ctx.addIssue({ code: 'custom', path: ['step'], message: 'must be a whole number of seconds or like 30s, 5m, 1h, 1d' });
    if (to === undefined || from === undefined || (q.step !== undefined && step === undefined)) return z.NEVER;
    if (to <= from) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' });
      return z.NEVER;
    }
    if (to - from > METRICS_MAX_RANGE_MS) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'the range may be at most 366 days' });
      return z.NEVER;
    }
    const stepS = step ?? defaultStep(to - from);
    if (Math.ceil((to - from) / (stepS * 1000)) > METRICS_MAX_POINTS) {
      ctx.addIssue({ code: 'custom', path: ['step'], message: `gives more than ${METRICS_MAX_POINTS} points over this range; use a step of at least ${Math.ceil((to - from) / 1000 / METRICS_MAX_POINTS)} s` });
      return z.NEVER;
    }
    return { target: q.target, from, to, step: stepS };
  });
export type MetricsQueryInput = z.input<typeof metricsQuerySchema>;
export type MetricsQuery = z.output<typeof metricsQuerySchema>;

/** One point: the averages over [t, t + step). A field the target does not report (a server's network) is null. */
export interface MetricsPoint {
  /** Start of the step, ISO 8601. */
  t: string;
  cpu_percent: number | null;
  memory_bytes: number | null;
  disk_bytes: number | null;
  net_rx: number | null;
  net_tx: number | null;
  /** `fleet` only: the nodes' total memory, so memory can be shown as a share. */
  memory_limit_bytes?: number | null;
}

/** Answer of `GET /metrics`: points oldest first, only steps that hold samples. */
export interface MetricsSeries {
  target: string;
  /** Seconds per point. */
  step: number;
  from: string;
  to: string;
  /** What the points were computed from: raw samples, 1-minute or 1-hour rollups. */
  resolution: MetricsResolution;
  points: MetricsPoint[];
}

/** Verbs of the metrics service (`cmd.metrics.<verb>`). */
export const MetricsVerbs = {
  /** `{ target, from, to, step, node_id? }` → MetricsSeries. `node_id` narrows a server's samples to those its own node sent. */
  query: 'query',
  /** `{ id, server_ids }` → the node's latest usage (seed 001's shape) and its listed servers'. */
  nodeLatest: 'node_latest',
  /** `{ id, range }` → UsageHistory. */
  nodeHistory: 'node_history',
  /** `{}` → FleetLatest: every node's and server's newest sample of the last minute. */
  fleetLatest: 'fleet_latest',
} as const;

/** One series' newest sample (`cmd.metrics.fleet_latest`); `node_id` is the node that sent it. */
export interface LatestSample {
  target: string;
  node_id: string;
  /** Epoch ms. */
  t: number;
  cpu_percent: number | null;
  memory_bytes: number | null;
  memory_limit_bytes: number | null;
  disk_bytes: number | null;
  net_rx: number | null;
  net_tx: number | null;
}
