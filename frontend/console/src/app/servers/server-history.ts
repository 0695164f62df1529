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
          <adm-usage-chart [series]="series" [data]="history.data()" [markers]="markers()" data-testid="server-history-chart" />
        }
      </mat-card-content>
    </mat-card>
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
  protected readonly series: ChartSeries[] = [
    { label: 'CPU', color: '#3f51b5' },
    { label: 'Memory', color: '#009688' },
  ];
  protected readonly history = new UsageSeries(2, 1000);

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
    try {
      const [series, markers] = await Promise.all([this.api.history(`server:${this.serverId()}`, this.range()), this.api.serverMarkers(this.serverId())]);
      const limit = this.memoryLimitMb() * 1024 * 1024;
      this.history.reset(series.points.map((p) => ({ at: p.t, values: [p.cpu_percent, percentOf(p.memory_bytes, limit)] })));
      this.points.set(series.points.length);
      this.markers.set(markers);
    } catch (e) {
      this.error.set(toApiError(e));
    } finally {
      this.loading.set(false);
    }
  }
}
