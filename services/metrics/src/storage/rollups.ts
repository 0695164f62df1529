import { SAMPLE_FIELDS, type Sample } from './samples';

/** The two rollups: 1-minute buckets (kept 30 d) and 1-hour buckets (kept 1 y). */
export const ROLLUPS = [
  { name: '1m', table: 'rollup_1m', bucketMs: 60_000 },
  { name: '1h', table: 'rollup_1h', bucketMs: 3600_000 },
] as const;
export type Rollup = (typeof ROLLUPS)[number];

/** Count, sum, min and max of each field over one bucket of one series (what a rollup row holds). */
export interface RollupRow {
  series: string;
  nodeId: string;
  /** Bucket start, epoch ms. */
  bucket: number;
  n: number;
  sum: (number | null)[];
  min: (number | null)[];
  max: (number | null)[];
}

const add = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : a + b);
const lower = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
const higher = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

/**
 * The rollup rows a batch of samples adds, one per (series, node, bucket): merged into the stored
 * rows with `n + n`, `sum + sum`, `least(min)`, `greatest(max)`, so rollups grow incrementally and
 * equal what grouping the raw samples gives (see rebuildRollups).
 */
export function rollupRows(samples: Iterable<Sample>, bucketMs: number): RollupRow[] {
  const rows = new Map<string, RollupRow>();
  for (const s of samples) {
    const bucket = Math.floor(s.t / bucketMs) * bucketMs;
    const key = `${s.series}|${s.nodeId}|${bucket}`;
    const row = rows.get(key);
    if (!row) {
      rows.set(key, { series: s.series, nodeId: s.nodeId, bucket, n: 1, sum: [...s.values], min: [...s.values], max: [...s.values] });
      continue;
    }
    row.n++;
    for (let i = 0; i < SAMPLE_FIELDS.length; i++) {
      row.sum[i] = add(row.sum[i], s.values[i]);
      row.min[i] = lower(row.min[i], s.values[i]);
      row.max[i] = higher(row.max[i], s.values[i]);
    }
  }
  return [...rows.values()];
}
