import { computed, signal } from '@angular/core';
import { Observable, Subscription } from 'rxjs';
import { ApiError, toApiError } from '../core/api-error';

/** Every list endpoint answers `{ items, nextCursor }`. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Accepts a bare array too, so an endpoint that is not paginated yet still renders. */
export function asPage<T>(reply: Page<T> | T[] | null | undefined): Page<T> {
  if (Array.isArray(reply)) return { items: reply, nextCursor: null };
  return { items: reply?.items ?? [], nextCursor: reply?.nextCursor ?? null };
}

/** Loads one page: `cursor` is null for the first page. */
export type PageFetcher<T> = (cursor: string | null, limit: number) => Observable<Page<T>>;

/**
 * Cursor pagination state for one list on screen. Cursors only go forward, so the list keeps the
 * cursor of every page it visited to go back.
 */
export class PagedList<T extends object> {
  private readonly cursors = signal<(string | null)[]>([null]);
  private readonly page = signal<Page<T> | null>(null);
  private readonly loadingSig = signal(false);
  private readonly errorSig = signal<ApiError | null>(null);
  private readonly limitSig = signal(25);
  private inflight: Subscription | null = null;

  readonly items = computed(() => this.page()?.items ?? []);
  readonly loading = this.loadingSig.asReadonly();
  readonly error = this.errorSig.asReadonly();
  readonly limit = this.limitSig.asReadonly();
  readonly pageNumber = computed(() => this.cursors().length);
  readonly hasNext = computed(() => !!this.page()?.nextCursor);
  readonly hasPrev = computed(() => this.cursors().length > 1);
  readonly empty = computed(() => this.page() !== null && this.items().length === 0 && !this.errorSig());

  constructor(private readonly fetch: PageFetcher<T>) {}

  /** Back to page one (after a filter changed or an item was created). */
  first(): void {
    this.cursors.set([null]);
    this.load();
  }

  reload(): void {
    this.load();
  }

  next(): void {
    const cursor = this.page()?.nextCursor;
    if (!cursor) return;
    this.cursors.update((c) => [...c, cursor]);
    this.load();
  }

  prev(): void {
    if (this.cursors().length < 2) return;
    this.cursors.update((c) => c.slice(0, -1));
    this.load();
  }

  setLimit(limit: number): void {
    this.limitSig.set(limit);
    this.first();
  }

  /** Changes items in place, e.g. when a live state push arrives. */
  patch(match: (item: T) => boolean, change: (item: T) => T): void {
    this.page.update((p) => (p ? { ...p, items: p.items.map((i) => (match(i) ? change(i) : i)) } : p));
  }

  remove(match: (item: T) => boolean): void {
    this.page.update((p) => (p ? { ...p, items: p.items.filter((i) => !match(i)) } : p));
  }

  destroy(): void {
    this.inflight?.unsubscribe();
  }

  private load(): void {
    this.inflight?.unsubscribe();
    const cursors = this.cursors();
    this.loadingSig.set(true);
    this.errorSig.set(null);
    this.inflight = this.fetch(cursors[cursors.length - 1], this.limitSig()).subscribe({
      next: (page) => {
        this.page.set(asPage(page));
        this.loadingSig.set(false);
      },
      error: (e: unknown) => {
        this.errorSig.set(toApiError(e));
        this.loadingSig.set(false);
      },
    });
  }
}
