import { Injectable, inject } from '@angular/core';
import { MatSnackBar } from '@angular/material/snack-bar';
import type { FeedItem } from '../shared/events-api';
import { Realtime } from './realtime';

/** What `alert.raised` / `alert.resolved` carry (docs/metrics.md). */
interface AlertData {
  name: string;
  target: string;
  field: string;
  comparator?: string;
  threshold?: number;
  value: number | null;
}

/** The one line a toast shows for an alert event, or null for other events. */
export function alertToastText(type: string, d: AlertData): string | null {
  // Every event of the feed comes here: anything but an alert (whose data has no value) is left alone.
  if (type !== 'alert.raised' && type !== 'alert.resolved') return null;
  const value = typeof d?.value === 'number' ? ` (${+d.value.toFixed(2)})` : '';
  if (type === 'alert.raised') return `Alert: ${d.name} — ${d.field} ${d.comparator} ${d.threshold} on ${d.target}${value}`;
  if (type === 'alert.resolved') return `Resolved: ${d.name} on ${d.target}${value}`;
  return null;
}

/** Toasts every raised and resolved alert of the event feed (the `events` room, for events.read holders). */
@Injectable({ providedIn: 'root' })
export class AlertToasts {
  private readonly realtime = inject(Realtime);
  private readonly snack = inject(MatSnackBar);
  private started = false;

  /** Starts once; later calls do nothing. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.realtime.join('events');
    this.realtime.on<FeedItem>('event', ({ event }) => {
      const text = alertToastText(event.type, event.data as AlertData);
      if (text) this.snack.open(text, 'Dismiss', { duration: event.type === 'alert.raised' ? 15_000 : 6000 });
    });
  }
}
