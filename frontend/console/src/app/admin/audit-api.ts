import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom, map } from 'rxjs';
import { Page, PagedList, asPage } from '../shared/paged-list';

/** One line of the audit log (a projection of EVENTS). */
export interface AuditRow {
  sequence: number;
  time: string;
  actor: unknown;
  /** The acting user's name (or "API key of <name>"), when the gateway knows it. */
  actorName?: string;
  action: string;
  subject: string;
  /** The subject's name: users, roles, and the servers, nodes and templates the caller may see. */
  subjectName?: string;
  /** Client address and user agent of the REST request behind the change; null for changes made on the bus. */
  ip?: string | null;
  userAgent?: string | null;
}

/** Filters of `GET /audit`. */
export interface AuditFilter {
  actor: string;
  action: string;
  subject: string;
  /** `datetime-local` values (local time), or '' for no bound. */
  from?: string;
  to?: string;
}

/** The query of `GET /audit` and `GET /audit/export` for a filter. */
export function auditParams(f: AuditFilter, base = new HttpParams()): HttpParams {
  let params = base;
  if (f.actor) params = params.set('actor', f.actor);
  if (f.action) params = params.set('action', f.action);
  if (f.subject) params = params.set('subject', f.subject);
  if (f.from) params = params.set('from', new Date(f.from).toISOString());
  if (f.to) params = params.set('to', new Date(f.to).toISOString());
  return params;
}

@Injectable({ providedIn: 'root' })
export class AuditApi {
  private readonly http = inject(HttpClient);

  list(filter: () => AuditFilter): PagedList<AuditRow> {
    return new PagedList<AuditRow>((cursor, limit) => {
      let params = auditParams(filter(), new HttpParams().set('limit', limit));
      if (cursor) params = params.set('cursor', cursor);
      return this.http.get<Page<AuditRow>>('/api/v1/audit', { params }).pipe(map(asPage));
    });
  }

  /** The filtered log as CSV (the endpoint needs the bearer token, so it is fetched, then saved). */
  async exportCsv(f: AuditFilter): Promise<Blob> {
    return firstValueFrom(this.http.get('/api/v1/audit/export', { params: auditParams(f), responseType: 'blob' }));
  }
}
