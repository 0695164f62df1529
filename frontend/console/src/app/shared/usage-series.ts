import { signal } from '@angular/core';
import type uPlot from 'uplot';

type AlignedData = uPlot.AlignedData;

/**
 * A rolling window of samples for a live chart: x is epoch seconds, then one array per series.
 * New arrays on every push so signals (and uPlot) see the change.
 */
export class UsageSeries {
  private readonly dataSig: ReturnType<typeof signal<AlignedData>>;
  readonly data;

  constructor(
    private readonly seriesCount: number,
    private readonly capacity = 120,
  ) {
    this.dataSig = signal<AlignedData>(Array.from({ length: seriesCount + 1 }, () => []) as unknown as AlignedData);
    this.data = this.dataSig.asReadonly();
  }

  /** Adds a sample; `at` is an ISO time or epoch ms (now when missing). Values may be null for gaps. */
  push(at: string | number | undefined, values: (number | null)[]): void {
    const t = (at === undefined ? Date.now() : typeof at === 'number' ? at : Date.parse(at)) / 1000;
    this.dataSig.update((d) => {
      const cols = d as unknown as (number | null)[][];
      const last = cols[0][cols[0].length - 1];
      if (last !== undefined && t <= (last as number)) return d; // out of order or duplicate (fleet + node room)
      return cols.map((col, i) => [...col, i === 0 ? t : (values[i - 1] ?? null)].slice(-this.capacity)) as unknown as AlignedData;
    });
  }

  /** Replaces the window, e.g. with a history answer; samples must be in time order. */
  reset(samples: { at: string | number; values: (number | null)[] }[]): void {
    const cols: (number | null)[][] = Array.from({ length: this.seriesCount + 1 }, () => []);
    for (const s of samples.slice(-this.capacity)) {
      cols[0].push((typeof s.at === 'number' ? s.at : Date.parse(s.at)) / 1000);
      s.values.forEach((v, i) => cols[i + 1].push(v ?? null));
    }
    this.dataSig.set(cols as unknown as AlignedData);
  }
}

/** Percentage of `used` over `limit`, or null when either is unknown. */
export function percentOf(used: number | null | undefined, limit: number | null | undefined): number | null {
  if (used === null || used === undefined || !limit) return null;
  return Math.round((used / limit) * 1000) / 10;
}
