import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom } from 'rxjs';
import type { AlertRuleView } from '@encedeus/contracts/alerts';
import type { MetricsSeries } from '@encedeus/contracts/metrics';
import type { ChartMarker } from './usage-chart';
import type { FeedItem } from './events-api';
import { asPage, type Page } from './paged-list';

/** Ranges of the history charts and their length. */
export const HISTORY_RANGES = { '1h': 3600_000, '6h': 6 * 3600_000, '24h': 24 * 3600_000, '7d': 7 * 24 * 3600_000, '30d': 30 * 24 * 3600_000 } as const;
export type MetricsRange = keyof typeof HISTORY_RANGES;

/** Domain events marked on a server's history: what happened to its process. */
const MARKED: Record<string, { label: string; color: string }> = {
  'server.started': { label: 'started', color: '#2e7d32' },
  'server.crashed': { label: 'crashed', color: '#c62828' },
  'server.restarted': { label: 'restarted', color: '#ef6c00' },
  'server.stopped': { label: 'stopped', color: '#607d8b' },
};

/** Usage history from the metrics service (`GET /metrics`) and the events that annotate it. */
@Injectable({ providedIn: 'root' })
export class MetricsApi {
  private readonly http = inject(HttpClient);

  /** `target` (`node:<id>` / `server:<id>`) over the last `range`, with the service's default step. */
  history(target: string, range: MetricsRange): Promise<MetricsSeries> {
    const to = Date.now();
    return firstValueFrom(this.http.get<MetricsSeries>('/api/v1/metrics', { params: { target, from: to - HISTORY_RANGES[range], to } }));
  }

  /** Alert rules that are raised now (`GET /alerts/rules?firing=true`, needs metrics.read). */
  async firingAlerts(): Promise<AlertRuleView[]> {
    return asPage(await firstValueFrom(this.http.get<Page<AlertRuleView>>('/api/v1/alerts/rules', { params: { firing: 'true' } }))).items;
  }

  /** The server's started/crashed/restarted/stopped events as chart markers; none without `events.read`. */
  async serverMarkers(serverId: string): Promise<ChartMarker[]> {
    try {
      const page = await firstValueFrom(this.http.get<Page<FeedItem>>('/api/v1/events', { params: { aggregate: 'server', aggregate_id: serverId, limit: 500 } }));
      return asPage(page).items.flatMap(({ event }) => {
        const mark = MARKED[event.type];
        return mark ? [{ t: Date.parse(event.time) / 1000, ...mark }] : [];
      });
    } catch {
      return [];
    }
  }
}
