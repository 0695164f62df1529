import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom, map } from 'rxjs';
import { Page, PagedList, asPage } from '../shared/paged-list';

export interface Role {
  id: string;
  name: string;
  permissions: string[];
  builtIn: boolean;
}

/** A permission string and what it allows (`GET /permissions`). */
export interface PermissionInfo {
  name: string;
  description: string;
}

/** Body of `POST /roles` and `PATCH /roles/:id`. */
export interface RoleDraft {
  name: string;
  permissions: string[];
}

@Injectable({ providedIn: 'root' })
export class RolesApi {
  private readonly http = inject(HttpClient);
  private catalog: Promise<PermissionInfo[]> | null = null;

  list(): PagedList<Role> {
    return new PagedList<Role>((cursor, limit) => {
      let params = new HttpParams().set('limit', limit);
      if (cursor) params = params.set('cursor', cursor);
      return this.http.get<Page<Role>>('/api/v1/roles', { params }).pipe(map(asPage));
    });
  }

  /** Up to 100 roles, for pickers. */
  async all(): Promise<Role[]> {
    return asPage(await firstValueFrom(this.http.get<Page<Role>>('/api/v1/roles', { params: { limit: 100 } }))).items;
  }

  create(role: RoleDraft): Promise<Role> {
    return firstValueFrom(this.http.post<Role>('/api/v1/roles', role));
  }

  update(id: string, role: Partial<RoleDraft>): Promise<Role> {
    return firstValueFrom(this.http.patch<Role>(`/api/v1/roles/${encodeURIComponent(id)}`, role));
  }

  /** Deletes a role; `force` takes it from the users who hold it first (else 409 while it is assigned). */
  remove(id: string, force = false): Promise<unknown> {
    return firstValueFrom(this.http.delete(`/api/v1/roles/${encodeURIComponent(id)}${force ? '?force=true' : ''}`));
  }

  /** Every permission the system knows, loaded once. */
  permissions(): Promise<PermissionInfo[]> {
    this.catalog ??= firstValueFrom(this.http.get<Page<PermissionInfo> | PermissionInfo[]>('/api/v1/permissions'))
      .then((reply) => asPage(reply).items)
      .catch((e: unknown) => {
        this.catalog = null;
        throw e;
      });
    return this.catalog;
  }
}
