/**
 * One usage sample as the metrics service stores it: a series (`node:<id>` or `server:<id>`), the
 * node that sent it, when, and its numeric fields (null where the sender does not report one).
 */
export interface Sample {
  series: string;
  /** The node whose agent published the sample (`tel.<nodeId>.…`); a server's history is read back only for its own node. */
  nodeId: string;
  /** Epoch ms. */
  t: number;
  values: (number | null)[];
}

/**
 * Every stored field, in column order. The first five are the points of `GET /metrics`; the others
 * keep seed 001's node usage (`memory_limit`, disk total, load) and a server's uptime for `GET /nodes/:id/metrics/history`.
 */
export const SAMPLE_FIELDS = [
  'cpu_percent',
  'memory_bytes',
  'disk_bytes',
  'net_rx',
  'net_tx',
  'memory_limit_bytes',
  'disk_total_bytes',
  'load1',
  'load5',
  'load15',
  'uptime_ms',
] as const;
export type SampleField = (typeof SAMPLE_FIELDS)[number];

/** A sample's `at` further than this from the time the stream stored it is replaced by the stream's time (agent clocks drift; forged times must not reach old partitions). */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A finite number, or null for anything else (missing, string, NaN). */
function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function sampleTime(at: unknown, storedAt: number): number {
  const t = num(at);
  return t !== null && Math.abs(t - storedAt) <= MAX_CLOCK_SKEW_MS ? Math.round(t) : storedAt;
}

/**
 * The sample a telemetry message holds: `tel.<nodeId>.usage` (NodeUsageSample) or
 * `tel.<nodeId>.<serverId>.usage` (ServerUsageSample); null for any other subject or a body that is
 * not a JSON object. The node id comes from the subject (the broker lets an agent publish only under
 * its own), never from the body. `storedAt` is when JetStream stored the message.
 */
export function sampleOf(subject: string, body: unknown, storedAt: number): Sample | null {
  const parts = subject.split('.');
  if (parts[0] !== 'tel' || parts[parts.length - 1] !== 'usage' || !UUID.test(parts[1] ?? '')) return null;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const b = body as Record<string, unknown>;
  const nodeId = parts[1].toLowerCase();
  if (parts.length === 3) {
    const load = Array.isArray(b.load) ? b.load : [];
    return {
      series: `node:${nodeId}`,
      nodeId,
      t: sampleTime(b.at, storedAt),
      values: [num(b.cpu_percent), num(b.memory_used), num(b.disk_used), num(b.net_rx), num(b.net_tx), num(b.memory_total), num(b.disk_total), num(load[0]), num(load[1]), num(load[2]), null],
    };
  }
  if (parts.length === 4 && UUID.test(parts[2])) {
    return {
      series: `server:${parts[2].toLowerCase()}`,
      nodeId,
      t: sampleTime(b.at, storedAt),
      values: [num(b.cpu_percent), num(b.memory_bytes), num(b.disk_bytes), null, null, num(b.memory_limit_bytes), null, null, null, null, num(b.uptime_ms)],
    };
  }
  return null;
}
