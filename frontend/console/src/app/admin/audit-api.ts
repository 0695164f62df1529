import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { map } from 'rxjs';
import { Page, PagedList, asPage } from '../shared/paged-list';

/** One line of the audit log (a projection of EVENTS). */
export interface AuditRow {
  sequence: number;
  time: string;
  actor: unknown;
  action: string;
  subject: string;
}

/** Filters of `GET /audit`. */
export interface AuditFilter {
  actor: string;
  action: string;
  subject: string;
}

@Injectable({ providedIn: 'root' })
export class AuditApi {
  private readonly http = inject(HttpClient);

  list(filter: () => AuditFilter): PagedList<AuditRow> {
    return new PagedList<AuditRow>((cursor, limit) => {
      let params = new HttpParams().set('limit', limit);
      if (cursor) params = params.set('cursor', cursor);
      const f = filter();
      if (f.actor) params = params.set('actor', f.actor);
      if (f.action) params = params.set('action', f.action);
      if (f.subject) params = params.set('subject', f.subject);
      return this.http.get<Page<AuditRow>>('/api/v1/audit', { params }).pipe(map(asPage));
    });
  }
}
