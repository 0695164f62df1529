import { ChangeDetectionStrategy, Component, computed, effect, inject, input, signal } from '@angular/core';
import { MatButtonToggleModule } from '@angular/material/button-toggle';
import { MatCardModule } from '@angular/material/card';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MetricsApi, HISTORY_RANGES, type MetricsRange } from '../shared/metrics-api';
import { Notice } from '../shared/notice';
import { ChartMarker, ChartSeries, UsageChart } from '../shared/usage-chart';
import { UsageSeries, percentOf } from '../shared/usage-series';
import { toApiError, type ApiError } from '../core/api-error';

/**
 * A server's usage history (issue 12): CPU and memory (% of its limit) over 1 h … 30 d from the
 * metrics service, with its started / crashed / restarted / stopped events marked on the chart.
 */
@Component({
  selector: 'adm-server-history',
  imports: [MatCardModule, MatButtonToggleModule, MatProgressBarModule, Notice, UsageChart],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <mat-card appearance="outlined" class="section">
      <mat-card-header>
        <mat-card-title>History</mat-card-title>
        <span class="spacer"></span>
        <mat-button-toggle-group [value]="range()" (change)="range.set($event.value)" aria-label="Range" data-testid="server-history-range">
          @for (r of ranges; track r) {
            <mat-button-toggle [value]="r">{{ r }}</mat-button-toggle>
          }
        </mat-button-toggle-group>
      </mat-card-header>
      <mat-card-content>
        @if (loading()) {
          <mat-progress-bar mode="indeterminate" />
        }
        @if (error(); as e) {
          <adm-notice [error]="e" (retry)="load()" />
        } @else if (empty()) {
          <adm-notice data-testid="server-history-empty">No usage is recorded for this server in this range.</adm-notice>
        } @else {
          <adm-usage-chart [series]="series" [data]="history.data()" [markers]="markers()" data-testid="server-history-chart" [attr.data-range]="shownRange()" />
          @if (legend().length) {
            <ul class="marker-legend" aria-label="Events marked on the chart">
              @for (m of legend(); track m.label) {
                <li data-testid="server-history-marker" [attr.data-label]="m.label" [style.color]="m.color">{{ m.label }} ×{{ m.count }}</li>
              }
            </ul>
          }
        }
      </mat-card-content>
    </mat-card>
  `,
  styles: `
    .marker-legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 4px 0 0; padding: 0; list-style: none; font-size: 12px; }
    .marker-legend li::before { content: ''; display: inline-block; width: 12px; margin-right: 4px; vertical-align: middle; border-top: 2px dashed currentColor; }
  `,
})
export class ServerHistory {
  private readonly api = inject(MetricsApi);
  readonly serverId = input.required<string>();
  readonly memoryLimitMb = input.required<number>();
  protected readonly ranges = Object.keys(HISTORY_RANGES) as MetricsRange[];
  protected readonly range = signal<MetricsRange>('1h');
  protected readonly loading = signal(false);
  protected readonly error = signal<ApiError | null>(null);
  protected readonly points = signal(0);
  protected readonly empty = computed(() => !this.loading() && this.points() === 0);
  protected readonly markers = signal<ChartMarker[]>([]);
  /** The range whose answer is on the chart (the toggle may be ahead of it while loading). */
  protected readonly shownRange = signal<MetricsRange | null>(null);
  /** What the dashed lines mean: each marked kind on the chart, in its colour, with how many. */
  protected readonly legend = computed(() => {
    const kinds = new Map<string, { label: string; color: string; count: number }>();
    for (const m of this.markers()) {
      const kind = kinds.get(m.label) ?? { label: m.label, color: m.color, count: 0 };
      kind.count++;
      kinds.set(m.label, kind);
    }
    return [...kinds.values()];
  });
  protected readonly series: ChartSeries[] = [
    { label: 'CPU', color: '#3f51b5' },
    { label: 'Memory', color: '#009688' },
  ];
  protected readonly history = new UsageSeries(2, 1000);
  private runs = 0;

  constructor() {
    effect(() => {
      this.range();
      this.serverId();
      void this.load();
    });
  }

  async load(): Promise<void> {
    this.loading.set(true);
    this.error.set(null);
    const run = ++this.runs;
    const range = this.range();
    const to = Date.now();
    try {
      const [series, markers] = await Promise.all([this.api.history(`server:${this.serverId()}`, range, to), this.api.serverMarkers(this.serverId(), range, to)]);
      if (run !== this.runs) return; // a later load (another range) owns the chart
      const limit = this.memoryLimitMb() * 1024 * 1024;
      const samples = series.points.map((p) => ({ at: Date.parse(p.t), values: [p.cpu_percent, percentOf(p.memory_bytes, limit)] }));
      // Empty samples at both ends make the x axis the whole range, not only the stretch with usage: a
      // marker before the first sample (started) or after the last (stopped, crashed) was not drawn.
      // (A point's time is the start of its step, which may lie before the range.)
      const from = to - HISTORY_RANGES[range];
      const gap = (at: number) => ({ at, values: [null, null] });
      const head = samples.length && from < samples[0].at ? [gap(from)] : [];
      const tail = samples.length && to > samples[samples.length - 1].at ? [gap(to)] : [];
      this.history.reset([...head, ...samples, ...tail]);
      this.points.set(series.points.length);
      this.markers.set(markers);
      this.shownRange.set(range);
    } catch (e) {
      if (run === this.runs) this.error.set(toApiError(e));
    } finally {
      if (run === this.runs) this.loading.set(false);
    }
  }
}
