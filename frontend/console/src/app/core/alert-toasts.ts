import { Injectable, inject } from '@angular/core';
import { MatSnackBar } from '@angular/material/snack-bar';
import { NodesApi } from '../nodes/nodes-api';
import { ServersApi } from '../servers/servers-api';
import type { FeedItem } from '../shared/events-api';
import { Auth } from './auth';
import { Realtime } from './realtime';

/** How long a looked-up target name is reused before it is asked again (a rename shows after this). */
const NAME_TTL_MS = 5 * 60_000;

/** What `alert.raised` / `alert.resolved` carry (docs/metrics.md). */
interface AlertData {
  name: string;
  target: string;
  field: string;
  comparator?: string;
  threshold?: number;
  value: number | null;
}

/**
 * An alert rule's target (`server:<id>` / `node:<id>`) for people: `server <name>`, or the kind and
 * the id's first eight characters when the name is unknown (deleted, or hidden from the reader).
 */
export function alertTargetLabel(target: string, name?: string): string {
  const [kind, id] = target.split(':');
  if (!id) return target;
  return `${kind} ${name || id.slice(0, 8)}`;
}

/** The one line a toast shows for an alert event, or null for other events; `targetName` is the target's name when known. */
export function alertToastText(type: string, d: AlertData, targetName?: string): string | null {
  // Every event of the feed comes here: anything but an alert (whose data has no value) is left alone.
  if (type !== 'alert.raised' && type !== 'alert.resolved') return null;
  const value = typeof d?.value === 'number' ? ` (${+d.value.toFixed(2)})` : '';
  const target = alertTargetLabel(String(d.target ?? ''), targetName);
  if (type === 'alert.raised') return `Alert: ${d.name} — ${d.field} ${d.comparator} ${d.threshold} on ${target}${value}`;
  if (type === 'alert.resolved') return `Resolved: ${d.name} on ${target}${value}`;
  return null;
}

/**
 * Toasts every raised and resolved alert of the event feed (the `events` room, for events.read
 * holders), naming the target through GET /servers/:id or /nodes/:id: the gateway answers only
 * with what the reader may see, so a hidden or deleted target shows as a short id.
 */
@Injectable({ providedIn: 'root' })
export class AlertToasts {
  private readonly realtime = inject(Realtime);
  private readonly snack = inject(MatSnackBar);
  private readonly auth = inject(Auth);
  private readonly servers = inject(ServersApi);
  private readonly nodes = inject(NodesApi);
  /** Target names by `server:<id>` / `node:<id>`; undefined where it could not be read. */
  private readonly names = new Map<string, { name: Promise<string | undefined>; until: number }>();
  private started = false;

  /** Starts once; later calls do nothing. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.realtime.join('events');
    this.realtime.on<FeedItem>('event', ({ event }) => {
      if (event.type !== 'alert.raised' && event.type !== 'alert.resolved') return;
      const data = event.data as AlertData;
      void this.targetName(String(data?.target ?? '')).then((name) => {
        const text = alertToastText(event.type, data, name);
        if (text) this.snack.open(text, 'Dismiss', { duration: event.type === 'alert.raised' ? 15_000 : 6000 });
      });
    });
  }

  /** The target's name as the reader may see it, from the cache or asked once; never rejects. */
  private targetName(target: string): Promise<string | undefined> {
    const cached = this.names.get(target);
    if (cached && cached.until > Date.now()) return cached.name;
    const [kind, id] = target.split(':');
    const ask =
      kind === 'server' && id ? this.servers.get(id).then((s) => s.name) : kind === 'node' && id && this.auth.can('nodes.read') ? this.nodes.get(id).then((n) => n.name) : Promise.resolve(undefined);
    const name = ask.catch(() => undefined);
    this.names.set(target, { name, until: Date.now() + NAME_TTL_MS });
    return name;
  }
}
