import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom, map } from 'rxjs';
import { Page, PagedList, asPage } from './paged-list';

/** A CloudEvents 1.0 document from the EVENTS stream. */
export interface CloudEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  data: unknown;
  actor: unknown;
  aggregateversion: number;
}

/** One entry of the raw feed (REST items and `event` pushes). */
export interface FeedItem {
  sequence: number;
  event: CloudEvent;
  /** Name of the server, node, template, user or role the event is about; REST items only, and only what the caller may see. */
  subjectName?: string;
  /** Name of the user (or API key owner, or node of the agent) that caused it; REST items only. */
  actorName?: string;
}

/** `server e2e-echo` for a named subject, else the raw `server/<id>`. */
export function subjectLabel(subject: string, name: string | undefined): string {
  return name ? `${subject.split('/')[0]} ${name}` : subject;
}

/** Filters of `GET /events`. */
export interface EventFilter {
  /** Only events after this stream sequence. */
  after: string;
  type: string;
  aggregate: string;
}

/** Who did it, as one short string, whatever shape the actor has. */
export function describeActor(actor: unknown): string {
  if (actor === null || actor === undefined) return 'system';
  if (typeof actor !== 'object') return String(actor);
  const a = actor as Record<string, unknown>;
  const who = a['name'] ?? a['email'] ?? a['id'] ?? a['sub'];
  const kind = a['type'] ?? a['kind'];
  return [kind, who].filter(Boolean).join(':') || JSON.stringify(actor);
}

@Injectable({ providedIn: 'root' })
export class EventsApi {
  private readonly http = inject(HttpClient);

  /**
   * The newest `limit` events, for the dashboard. `GET /events` reads forward from `after`, so the
   * first answer's `lastSequence` tells where the newest page starts.
   */
  async recent(limit = 20): Promise<FeedItem[]> {
    const probe = await firstValueFrom(this.http.get<Page<FeedItem> & { lastSequence?: number }>('/api/v1/events', { params: { limit } }));
    const last = probe.lastSequence ?? 0;
    if (last <= limit) return asPage(probe).items;
    const after = last - limit;
    return asPage(await firstValueFrom(this.http.get<Page<FeedItem>>('/api/v1/events', { params: { after, limit } }))).items;
  }

  list(filter: () => EventFilter): PagedList<FeedItem> {
    return new PagedList<FeedItem>((cursor, limit) => {
      let params = new HttpParams().set('limit', limit);
      if (cursor) params = params.set('cursor', cursor);
      const f = filter();
      if (f.after) params = params.set('after', f.after);
      if (f.type) params = params.set('type', f.type);
      if (f.aggregate) {
        // The field takes `server` or `server/<id>`; the API wants the two apart (`server/<id>` was a 422).
        const [aggregate, id] = f.aggregate.split('/');
        params = params.set('aggregate', aggregate);
        if (id) params = params.set('aggregate_id', id);
      }
      return this.http.get<Page<FeedItem>>('/api/v1/events', { params }).pipe(map(asPage));
    });
  }
}
