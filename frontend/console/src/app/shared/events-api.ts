import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom, from } from 'rxjs';
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

  /** The feed newest first (issue 14 bug 6); see newestFirstPage. */
  list(filter: () => EventFilter): PagedList<FeedItem> {
    return new PagedList<FeedItem>((cursor, limit) => from(this.newestFirst(filter(), cursor, limit)));
  }

  /**
   * One page of the matching events, newest first, ending at `cursor` (a stream sequence; null: the end
   * of the log now); its `nextCursor` is where the older page ends, null at `f.after` or the first event.
   */
  async newestFirst(f: EventFilter, cursor: string | null, limit: number): Promise<Page<FeedItem>> {
    const floor = f.after ? Number(f.after) : 0;
    const top = cursor !== null ? Number(cursor) : ((await firstValueFrom(this.http.get<{ lastSequence?: number }>('/api/v1/events', { params: { limit: 1, after: floor } }))).lastSequence ?? 0);
    return newestFirstPage((after, max) => {
      let params = new HttpParams().set('after', after).set('limit', max);
      if (f.type) params = params.set('type', f.type);
      if (f.aggregate) {
        // The field takes `server` or `server/<id>`; the API wants the two apart (`server/<id>` was a 422).
        const [aggregate, id] = f.aggregate.split('/');
        params = params.set('aggregate', aggregate);
        if (id) params = params.set('aggregate_id', id);
      }
      return firstValueFrom(this.http.get<Page<FeedItem>>('/api/v1/events', { params })).then(asPage);
    }, { top, floor, limit });
  }
}

/** Reads the matching events after `after`, oldest first, at most `limit` (`GET /events`). */
export type ReadForward = (after: number, limit: number) => Promise<Page<FeedItem>>;

/**
 * One page of the feed, newest first: the `limit` newest matching events with `floor < sequence <= top`,
 * and the cursor of the page before them (its `top`), null when none is left. `GET /events` only reads
 * forward, so this reads the window that ends at `top` and widens it (×4) until it holds `limit`
 * matching events or reaches `floor`.
 */
export async function newestFirstPage(read: ReadForward, { top, floor, limit }: { top: number; floor: number; limit: number }): Promise<Page<FeedItem>> {
  let found: FeedItem[] = [];
  for (let span = limit, end = top; ; span *= 4) {
    const start = Math.max(floor, top - span);
    // Only the part of the wider window not read yet.
    found = [...(await between(read, start, end)), ...found];
    end = start;
    if (found.length >= limit || start === floor) {
      const items = found.slice(-limit).reverse();
      const older = items.length > 0 && (found.length > limit || start > floor);
      return { items, nextCursor: older ? String(items[items.length - 1].sequence - 1) : null };
    }
  }
}

/** The matching events with `after < sequence <= upTo`, oldest first. */
async function between(read: ReadForward, after: number, upTo: number): Promise<FeedItem[]> {
  const found: FeedItem[] = [];
  while (after < upTo) {
    // At most upTo - after events lie in the window, so an unfiltered read never runs past it.
    const page = await read(after, Math.min(1000, upTo - after));
    found.push(...page.items.filter((i) => i.sequence <= upTo));
    const last = page.items.at(-1)?.sequence;
    if (!page.nextCursor || last === undefined || last >= upTo) break;
    after = last;
  }
  return found;
}
