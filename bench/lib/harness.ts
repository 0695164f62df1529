import * as hdr from 'hdr-histogram-js';
import type { NatsConnection } from 'nats';
import type { NatsHandle, PostgresServer, TestDatabase } from '@encedeus/testing';
import type { NatsUserName } from '@encedeus/messaging';

/**
 * What bench/run.ts hands every `*.bench.ts`: its own nats-server (operator mode, fresh store) and
 * its own Postgres database, both removed after the bench. A bench reads it with `benchEnv()`.
 */
export interface BenchEnv {
  nats: NatsHandle;
  postgres: PostgresServer;
  db: TestDatabase;
  /** A connection as the given NATS user (default `admin`, the tooling user); closed after the bench. */
  connect(user?: NatsUserName, name?: string): Promise<NatsConnection>;
  machine: MachineInfo;
}

/** The conditions every figure is measured under; printed and written to RESULTS.md. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  os: string;
  node: string;
  natsServer: string;
  postgres: string;
}

/** One measured figure, its target and the raw figure measured beside it in the same run. */
export interface Figure {
  bench: string;
  name: string;
  value: number;
  unit: string;
  /** `>=` for throughput, `<=` for latency. */
  target?: { op: '>=' | '<='; value: number };
  /** The lower-level figure measured in the same run (plain nats.js, raw consumer, raw request/reply). */
  raw?: { name: string; value: number; unit: string };
  /** Throughput only: the share of `raw` the figure must reach, e.g. 0.5. */
  minShareOfRaw?: number;
  note?: string;
}

let current: BenchEnv | undefined;
const recorded: Figure[] = [];
const conditionsByBench = new Map<string, string[]>();

/** Set by bench/run.ts before each bench. */
export function setBenchEnv(env: BenchEnv | undefined): void {
  current = env;
}

/** The environment of the bench being run; only bench/run.ts provides one. */
export function benchEnv(): BenchEnv {
  if (!current) throw new Error('bench: no environment; run benches through `npm run bench [-- <name>]`');
  return current;
}

/** Records a figure for the summary table and RESULTS.md, and prints it. */
export function record(figure: Figure): void {
  recorded.push(figure);
  const raw = figure.raw ? `   raw ${figure.raw.name}: ${fmt(figure.raw.value)} ${figure.raw.unit} (${ratioText(figure)})` : '';
  const target = figure.target ? `   target ${figure.target.op} ${fmt(figure.target.value)} → ${passed(figure) ? 'PASS' : 'MISS'}` : '';
  console.log(`  ▸ ${figure.name}: ${fmt(figure.value)} ${figure.unit}${target}${raw}`);
}

export function figures(): readonly Figure[] {
  return recorded;
}

/** Adds what a bench recorded in its own process (bench/lib/child.ts) to this one's summary. */
export function importResults(figuresOfBench: readonly Figure[], conditionsOfBench: [string, string[]][]): void {
  recorded.push(...figuresOfBench);
  for (const [bench, lines] of conditionsOfBench) conditionsByBench.set(bench, [...(conditionsByBench.get(bench) ?? []), ...lines]);
}

/** Prints the conditions a bench ran under (concurrency, sizes, counts) and keeps them for RESULTS.md. */
export function conditions(bench: string, values: Record<string, string | number>): void {
  const lines = Object.entries(values).map(([k, v]) => `${k}: ${typeof v === 'number' ? fmt(v) : v}`);
  conditionsByBench.set(bench, [...(conditionsByBench.get(bench) ?? []), ...lines]);
  for (const line of lines) console.log(`    ${line}`);
}

export function allConditions(): ReadonlyMap<string, string[]> {
  return conditionsByBench;
}

/** True when the figure meets its target and, if asked, its share of the raw figure. */
export function passed(figure: Figure): boolean {
  let ok = true;
  if (figure.target) ok = figure.target.op === '>=' ? figure.value >= figure.target.value : figure.value <= figure.target.value;
  if (figure.minShareOfRaw !== undefined && figure.raw) ok = ok && figure.value / figure.raw.value >= figure.minShareOfRaw;
  return ok;
}

/** "45 % of raw" for throughput, "8.1× raw" for latency. */
export function ratioText(figure: Figure): string {
  if (!figure.raw || figure.raw.value === 0) return '';
  const ratio = figure.value / figure.raw.value;
  const lowerIsBetter = figure.target ? figure.target.op === '<=' : figure.unit === 'ms';
  if (lowerIsBetter) return `${ratio.toFixed(1)}× raw`;
  const need = figure.minShareOfRaw !== undefined ? `, target ≥ ${Math.round(figure.minShareOfRaw * 100)} %` : '';
  return `${(ratio * 100).toFixed(0)} % of raw${need}`;
}

/** Numbers as people read them: 12,345 or 1.23. */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** A latency histogram in microseconds (HDR, 3 significant digits); reports milliseconds. */
export class Latency {
  private readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });

  /** Records one sample given in milliseconds. */
  recordMs(ms: number): void {
    this.histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  /** Times `fn` and records it. */
  async time<T>(fn: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    try {
      return await fn();
    } finally {
      this.recordMs(Number(process.hrtime.bigint() - start) / 1e6);
    }
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  percentileMs(p: number): number {
    return this.histogram.getValueAtPercentile(p) / 1000;
  }

  summary(): string {
    return `p50 ${this.percentileMs(50).toFixed(2)} ms, p90 ${this.percentileMs(90).toFixed(2)} ms, p99 ${this.percentileMs(99).toFixed(2)} ms, max ${(this.histogram.maxValue / 1000).toFixed(2)} ms (n=${this.count})`;
  }
}

/** Runs `fn(0..total-1)` with at most `concurrency` calls in flight. */
export async function pool(total: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}

/** Seconds since `start` (from `process.hrtime.bigint()`). */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** The median of a few repeated measurements. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
