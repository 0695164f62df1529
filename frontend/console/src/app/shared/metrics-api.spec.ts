import { HttpClient, HttpParams } from '@angular/common/http';
import { TestBed } from '@angular/core/testing';
import { of, throwError } from 'rxjs';
import type { FeedItem } from './events-api';
import { MARKER_EVENTS_MAX, MetricsApi } from './metrics-api';

const SERVER = '7829bcc3-3357-4e7f-95fc-bfe752d7c578';
const OTHER = '0b5a4b84-4a44-4a4e-9d4a-1f1a4e3c9d10';
const NOW = Date.parse('2026-12-02T03:00:00.000Z');
const DAY = 24 * 3600_000;

/** An EVENTS stream in the order given; `ago` is how long before NOW the event happened. */
function stream(entries: { type: string; ago: number; server?: string }[]) {
  const events: FeedItem[] = entries.map(({ type, ago, server }, i) => {
    const subject = server ? `server/${server}` : `user/u${i}`;
    return {
      sequence: i + 1,
      event: {
        specversion: '1.0',
        id: `e${i + 1}`,
        source: 't',
        type,
        subject,
        time: new Date(NOW - ago).toISOString(),
        data: {},
        actor: null,
        aggregateversion: 1,
      },
    };
  });
  const requests: Record<string, string>[] = [];
  /** Like GET /api/v1/events: forward from `after`, filtered by aggregate, `nextCursor` when the page is full. */
  const get = (url: string, options: { params: HttpParams | Record<string, string | number> }) => {
    if (url !== '/api/v1/events') return throwError(() => new Error(`unexpected GET ${url}`));
    const { params } = options;
    const param = (k: string) => (params instanceof HttpParams ? params.get(k) : params[k] === undefined ? null : String(params[k]));
    requests.push(
      Object.fromEntries(
        ['after', 'limit', 'aggregate', 'aggregate_id', 'type'].flatMap((k) => (param(k) === null ? [] : [[k, param(k)!]])),
      ),
    );
    const after = Number(param('after') ?? 0);
    const limit = Number(param('limit') ?? 100);
    const subject = param('aggregate_id') ? `${param('aggregate')}/${param('aggregate_id')}` : null;
    const items = events
      .filter((e) => e.sequence > after && (!subject || e.event.subject === subject) && (!param('type') || e.event.type === param('type')))
      .slice(0, limit);
    return of({ items, nextCursor: items.length === limit ? String(items[items.length - 1].sequence) : null, lastSequence: events.length });
  };
  TestBed.configureTestingModule({ providers: [{ provide: HttpClient, useValue: { get } }] });
  return { api: TestBed.inject(MetricsApi), requests };
}

const times = (ms: number[]) => ms.map((t) => t / 1000);

describe('MetricsApi.serverMarkers', () => {
  it('marks the server becoming running as started, and its crashes, restarts and stops (the contract event types)', async () => {
    const { api } = stream([
      { type: 'server.start_requested', ago: 50 * 60_000, server: SERVER },
      { type: 'server.starting', ago: 49 * 60_000, server: SERVER },
      { type: 'server.running', ago: 48 * 60_000, server: SERVER },
      { type: 'server.crashed', ago: 40 * 60_000, server: SERVER },
      { type: 'server.restarted', ago: 39 * 60_000, server: SERVER },
      { type: 'server.running', ago: 38 * 60_000, server: SERVER },
      { type: 'server.stop_requested', ago: 31 * 60_000, server: SERVER },
      { type: 'server.stopped', ago: 30 * 60_000, server: SERVER },
    ]);

    const markers = await api.serverMarkers(SERVER, '1h', NOW);

    expect(markers.map((m) => m.label)).toEqual(['started', 'crashed', 'restarted', 'started', 'stopped']);
    expect(markers.map((m) => m.t)).toEqual(
      times([NOW - 48 * 60_000, NOW - 40 * 60_000, NOW - 39 * 60_000, NOW - 38 * 60_000, NOW - 30 * 60_000]),
    );
    expect(new Set(markers.map((m) => m.color)).size).toBe(4);
  });

  it("finds the markers in the chart's range behind more than 500 older events of the server, and only those", async () => {
    const { api, requests } = stream([
      { type: 'server.running', ago: 40 * DAY, server: SERVER },
      ...Array.from({ length: 700 }, (_, i) => ({ type: 'server.files_changed', ago: 35 * DAY - i * 60_000, server: SERVER })),
      ...Array.from({ length: 300 }, (_, i) => ({ type: 'user.created', ago: 20 * DAY - i * 60_000 })),
      { type: 'server.running', ago: 10 * DAY, server: SERVER },
      { type: 'server.running', ago: 3 * DAY, server: OTHER },
      { type: 'server.crashed', ago: 3 * DAY, server: SERVER },
      { type: 'server.restarted', ago: 3 * DAY - 1000, server: SERVER },
      { type: 'server.running', ago: 3 * DAY - 5000, server: SERVER },
      { type: 'user.created', ago: DAY },
    ]);

    const week = await api.serverMarkers(SERVER, '7d', NOW);
    const month = await api.serverMarkers(SERVER, '30d', NOW);

    expect(week.map((m) => m.label)).toEqual(['crashed', 'restarted', 'started']);
    expect(week.map((m) => m.t)).toEqual(times([NOW - 3 * DAY, NOW - 3 * DAY + 1000, NOW - 3 * DAY + 5000]));
    expect(month.map((m) => m.label)).toEqual(['started', 'crashed', 'restarted', 'started']);
    // Only this server's events were asked for.
    expect(
      requests.filter((r) => r['aggregate_id'] !== undefined).every((r) => r['aggregate'] === 'server' && r['aggregate_id'] === SERVER),
    ).toBe(true);
  });

  it(`reads at most ${MARKER_EVENTS_MAX} of the server's events, the newest`, async () => {
    const { api, requests } = stream(
      Array.from({ length: MARKER_EVENTS_MAX + 1500 }, (_, i) => ({
        type: i % 2 ? 'server.running' : 'server.stopped',
        ago: 6 * DAY - i * 60_000,
        server: SERVER,
      })),
    );

    const markers = await api.serverMarkers(SERVER, '7d', NOW);

    expect(markers).toHaveLength(MARKER_EVENTS_MAX);
    expect(markers.at(-1)?.t).toBe((NOW - 6 * DAY + (MARKER_EVENTS_MAX + 1499) * 60_000) / 1000);
    expect(markers[0].t).toBe((NOW - 6 * DAY + 1500 * 60_000) / 1000);
    expect(requests.length).toBeLessThan(20);
  });

  it('gives no markers when the events cannot be read (no events.read)', async () => {
    TestBed.configureTestingModule({ providers: [{ provide: HttpClient, useValue: { get: () => throwError(() => ({ status: 403 })) } }] });

    const markers = await TestBed.inject(MetricsApi).serverMarkers(SERVER, '24h', NOW);

    expect(markers).toEqual([]);
  });
});
