import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom } from 'rxjs';
import type { AlertRuleView } from '@encedeus/contracts/alerts';
import type { MetricsSeries } from '@encedeus/contracts/metrics';
// Types only (erased in the build): the event names come from the contract, never re-declared here.
import type { ServerCrashed, ServerRestarted, ServerRunning, ServerStopped } from '../../../../../libs/contracts/src/events/fleet.events';
import type { ChartMarker } from './usage-chart';
import { EventsApi } from './events-api';
import { asPage, type Page } from './paged-list';

/** Ranges of the history charts and their length. */
export const HISTORY_RANGES = { '1h': 3600_000, '6h': 6 * 3600_000, '24h': 24 * 3600_000, '7d': 7 * 24 * 3600_000, '30d': 30 * 24 * 3600_000 } as const;
export type MetricsRange = keyof typeof HISTORY_RANGES;

type MarkedType = (typeof ServerRunning | typeof ServerCrashed | typeof ServerRestarted | typeof ServerStopped)['type'];

/**
 * Domain events marked on a server's history: what happened to its process. "started" is when it
 * became running (`server.running`: ready), not `server.starting`.
 */
export const SERVER_MARKS: Readonly<Record<MarkedType, { label: string; color: string }>> = {
  'server.running': { label: 'started', color: '#2e7d32' },
  'server.crashed': { label: 'crashed', color: '#c62828' },
  'server.restarted': { label: 'restarted', color: '#ef6c00' },
  'server.stopped': { label: 'stopped', color: '#607d8b' },
};

/** The marker of an event, or null when the chart does not mark that type. */
export function serverMarker(type: string, time: string): ChartMarker | null {
  const mark = Object.hasOwn(SERVER_MARKS, type) ? SERVER_MARKS[type as MarkedType] : undefined;
  return mark ? { t: Date.parse(time) / 1000, ...mark } : null;
}

/** Events of one server read for the markers of one chart, at most; a range holding more shows only the newest ones' markers. */
export const MARKER_EVENTS_MAX = 2000;
const MARKER_PAGE = 500;

/** Usage history from the metrics service (`GET /metrics`) and the events that annotate it. */
@Injectable({ providedIn: 'root' })
export class MetricsApi {
  private readonly http = inject(HttpClient);
  private readonly events = inject(EventsApi);

  /** `target` (`node:<id>` / `server:<id>`) over the `range` ending at `to`, with the service's default step. */
  history(target: string, range: MetricsRange, to = Date.now()): Promise<MetricsSeries> {
    return firstValueFrom(this.http.get<MetricsSeries>('/api/v1/metrics', { params: { target, from: to - HISTORY_RANGES[range], to } }));
  }

  /** Alert rules that are raised now (`GET /alerts/rules?firing=true`, needs metrics.read). */
  async firingAlerts(): Promise<AlertRuleView[]> {
    return asPage(await firstValueFrom(this.http.get<Page<AlertRuleView>>('/api/v1/alerts/rules', { params: { firing: 'true' } }))).items;
  }

  /**
   * The server's started/crashed/restarted/stopped events within `range` ending at `to`, oldest first,
   * as chart markers; none without `events.read`. `GET /events` reads forward only, so the server's
   * events are read newest first from the end of the log (EventsApi.newestFirst), page by page, back
   * to the start of the range, and at most MARKER_EVENTS_MAX of them (a busy server's 30 d).
   */
  async serverMarkers(serverId: string, range: MetricsRange, to = Date.now()): Promise<ChartMarker[]> {
    const from = to - HISTORY_RANGES[range];
    const filter = { after: '', type: '', aggregate: `server/${serverId}` };
    const newestFirst: ChartMarker[] = [];
    try {
      let cursor: string | null = null;
      for (let read = 0; read < MARKER_EVENTS_MAX; ) {
        const page = await this.events.newestFirst(filter, cursor, Math.min(MARKER_PAGE, MARKER_EVENTS_MAX - read));
        read += page.items.length;
        for (const { event } of page.items) {
          const at = Date.parse(event.time);
          if (at < from) return newestFirst.reverse();
          const marker = at <= to ? serverMarker(event.type, event.time) : null;
          if (marker) newestFirst.push(marker);
        }
        if (!page.nextCursor || page.items.length === 0) break;
        cursor = page.nextCursor;
      }
      return newestFirst.reverse();
    } catch {
      return [];
    }
  }
}
