import { HttpClient, HttpHeaders, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom, map } from 'rxjs';
import { PagedList, asPage, type Page } from '../shared/paged-list';
import type { Template } from '../servers/templates-api';

/** A template as the API answers it, with what only the API sets. */
export interface TemplateRecord extends Template {
  description?: string;
  install_script?: string;
  restart?: { on_crash: boolean; max_attempts: number; backoff_ms: number };
  builtIn: boolean;
  version: number;
}

/** Fields the API sets, never part of a body (export leaves them out, import ignores them). */
const SERVER_FIELDS = ['id', 'builtIn', 'version'] as const;
/** `PATCH` cannot change the driver. */
const CREATE_ONLY = ['driver'] as const;

/** The body of a template as a user edits, exports and imports it. */
export function templateBody(t: Partial<TemplateRecord>): Record<string, unknown> {
  const body: Record<string, unknown> = { ...t };
  for (const k of SERVER_FIELDS) delete body[k];
  return body;
}

/** Templates for their page: list, create, change (If-Match), delete (If-Match). */
@Injectable({ providedIn: 'root' })
export class TemplatesAdminApi {
  private readonly http = inject(HttpClient);

  list(): PagedList<TemplateRecord> {
    return new PagedList<TemplateRecord>((cursor, limit) => {
      let params = new HttpParams().set('limit', limit);
      if (cursor) params = params.set('cursor', cursor);
      return this.http.get<Page<TemplateRecord>>('/api/v1/templates', { params }).pipe(map(asPage));
    });
  }

  get(id: string): Promise<TemplateRecord> {
    return firstValueFrom(this.http.get<TemplateRecord>(`/api/v1/templates/${encodeURIComponent(id)}`));
  }

  create(body: Record<string, unknown>): Promise<TemplateRecord> {
    return firstValueFrom(this.http.post<TemplateRecord>('/api/v1/templates', templateBody(body)));
  }

  update(id: string, version: number, body: Record<string, unknown>): Promise<TemplateRecord> {
    const patch = templateBody(body);
    for (const k of CREATE_ONLY) delete patch[k];
    return firstValueFrom(this.http.patch<TemplateRecord>(`/api/v1/templates/${encodeURIComponent(id)}`, patch, { headers: new HttpHeaders({ 'If-Match': `"${version}"` }) }));
  }

  remove(id: string, version: number): Promise<unknown> {
    return firstValueFrom(this.http.delete(`/api/v1/templates/${encodeURIComponent(id)}`, { headers: new HttpHeaders({ 'If-Match': `"${version}"` }) }));
  }
}
