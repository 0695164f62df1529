import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject, signal } from '@angular/core';
import { DatePipe, JsonPipe } from '@angular/common';
import { MatButtonModule } from '@angular/material/button';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSlideToggleModule } from '@angular/material/slide-toggle';
import { Realtime } from '../core/realtime';
import { EventFilter, EventsApi, FeedItem, describeActor, subjectLabel } from '../shared/events-api';
import { Notice } from '../shared/notice';
import { Pager } from '../shared/pager';

const MAX_LIVE = 200;

/** The raw EVENTS stream: filter by sequence, type and aggregate, or follow it live. */
@Component({
  selector: 'adm-event-stream',
  imports: [MatFormFieldModule, MatInputModule, MatButtonModule, MatProgressBarModule, MatSlideToggleModule, DatePipe, JsonPipe, Notice, Pager],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head">
      <h1>Event stream</h1>
      <mat-slide-toggle [checked]="following()" (change)="follow($event.checked)" data-testid="events-live">Follow live</mat-slide-toggle>
    </header>
    <form class="toolbar-row" (submit)="apply($event, after.value, type.value, aggregate.value)" data-testid="event-filters">
      <mat-form-field>
        <mat-label>After sequence</mat-label>
        <input matInput #after type="number" min="0" [value]="filter().after" data-testid="events-after" />
      </mat-form-field>
      <mat-form-field>
        <mat-label>Type</mat-label>
        <input matInput #type [value]="filter().type" placeholder="e.g. server.running" data-testid="events-type" />
      </mat-form-field>
      <mat-form-field>
        <mat-label>Aggregate</mat-label>
        <input matInput #aggregate [value]="filter().aggregate" placeholder="server or server/<id>" data-testid="events-aggregate" />
      </mat-form-field>
      <button mat-stroked-button type="submit" data-testid="events-apply">Filter</button>
    </form>
    @if (list.loading()) {
      <mat-progress-bar mode="indeterminate" />
    }
    @if (list.error() || (list.empty() && liveItems().length === 0)) {
      <adm-notice [error]="list.error()" (retry)="list.reload()">No events match.</adm-notice>
    } @else {
      <ol class="feed" data-testid="event-feed">
        @for (item of rows(); track item.sequence) {
          <li data-testid="event-item" [attr.data-type]="item.event.type" [attr.data-sequence]="item.sequence">
            <details>
              <summary>
                <span class="seq">#{{ item.sequence }}</span>
                <span class="time">{{ item.event.time | date: 'medium' }}</span>
                <code class="type">{{ item.event.type }}</code>
                <span class="subject" [title]="item.event.subject" data-testid="event-subject">{{ item.subjectLabel }}</span>
                <span class="actor" [title]="item.event.actor">{{ item.actorLabel }}</span>
              </summary>
              <pre class="mono">{{ item.event | json }}</pre>
            </details>
          </li>
        }
      </ol>
      <adm-pager [list]="list" />
    }
  `,
  styles: `
    .feed { list-style: none; margin: 0; padding: 0; border: 1px solid var(--mat-sys-outline-variant); border-radius: 12px; }
    .feed li { border-bottom: 1px solid var(--mat-sys-outline-variant); font-size: 13px; }
    .feed li:last-child { border-bottom: 0; }
    summary { display: grid; grid-template-columns: 70px 180px minmax(160px, 220px) 1fr minmax(100px, 200px); gap: 12px; padding: 8px 12px; cursor: pointer; }
    .seq, .time, .actor { color: var(--mat-sys-on-surface-variant); }
    .subject, .actor { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    pre { margin: 0; padding: 12px; background: var(--mat-sys-surface-container); overflow: auto; max-height: 320px; }
  `,
})
export class EventStream {
  private readonly api = inject(EventsApi);
  private readonly realtime = inject(Realtime);
  protected readonly filter = signal<EventFilter>({ after: '', type: '', aggregate: '' });
  protected readonly list = this.api.list(() => this.filter());
  protected readonly following = signal(false);
  protected readonly liveItems = signal<FeedItem[]>([]);
  /**
   * One order everywhere: newest first (issue 14 bug 6). The first page ends at the log's end and
   * live events arrive on top of it; older pages follow with Next and show no live events.
   */
  protected readonly rows = computed(() => {
    const page = this.list.items();
    const newest = page.length ? page[0].sequence : 0;
    const live = this.list.hasPrev() ? [] : this.liveItems().filter((i) => i.sequence > newest).reverse();
    return [...live, ...page].map((item) => this.labelled(item, page));
  });
  private stopFollowing: (() => void) | null = null;

  constructor() {
    inject(DestroyRef).onDestroy(() => {
      this.stopFollowing?.();
      this.list.destroy();
    });
    this.list.first();
  }

  protected apply(event: Event, after: string, type: string, aggregate: string): void {
    event.preventDefault();
    this.filter.set({ after: after.trim(), type: type.trim(), aggregate: aggregate.trim() });
    this.liveItems.set([]);
    this.list.first();
  }

  protected follow(on: boolean): void {
    this.following.set(on);
    this.stopFollowing?.();
    this.stopFollowing = null;
    if (!on) return;
    const leave = this.realtime.join('events');
    const off = this.realtime.on<FeedItem>('event', (item) => {
      if (this.matches(item)) this.liveItems.update((l) => [...l, item].sort((a, b) => a.sequence - b.sequence).slice(-MAX_LIVE));
    });
    this.stopFollowing = () => {
      leave();
      off();
    };
  }

  /**
   * Names beside ids (issue 14): REST items carry the names the gateway may tell this caller; a live
   * push carries none, so it borrows them from the loaded page when the page named the same subject.
   */
  private labelled(item: FeedItem, page: FeedItem[]): FeedItem & { subjectLabel: string; actorLabel: string } {
    const subjectName = item.subjectName ?? page.find((p) => p.subjectName && p.event.subject === item.event.subject)?.subjectName;
    const actorName = item.actorName ?? page.find((p) => p.actorName && p.event.actor === item.event.actor)?.actorName;
    return { ...item, subjectLabel: subjectLabel(item.event.subject, subjectName), actorLabel: actorName ?? describeActor(item.event.actor) };
  }

  private matches(item: FeedItem): boolean {
    const f = this.filter();
    const e = item.event;
    if (f.after && item.sequence <= Number(f.after)) return false;
    if (f.type && e.type !== f.type && !e.type.startsWith(`${f.type}.`)) return false;
    if (f.aggregate && !e.subject.startsWith(f.aggregate)) return false;
    return true;
  }
}
