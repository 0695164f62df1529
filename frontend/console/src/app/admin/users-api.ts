import { HttpClient, HttpEventType, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, filter, firstValueFrom, map } from 'rxjs';
import { ApiError } from '../core/api-error';
import { Page, PagedList, asPage } from '../shared/paged-list';

/** A role as users and keys reference it. */
export interface RoleRef {
  id: string;
  name: string;
}

export interface User {
  id: string;
  name: string;
  email: string;
  roles: RoleRef[];
  disabled: boolean;
  /** Service accounts are users without a password that hold API keys. */
  serviceAccount?: boolean;
  /** False when no profile picture was uploaded (then `GET …/pfp` is a 404). */
  hasPicture?: boolean;
  createdAt: string;
  version: number;
}

/** Body of `POST /users`. */
export interface NewUser {
  name: string;
  email: string;
  password: string;
  role_id?: string;
}

/** Body of `PATCH /users/:id`; `role_id` replaces the user's roles with that one. */
export type UserPatch = Partial<{ name: string; email: string; password: string; disabled: boolean; role_id: string; current_password: string }>;

/** Filters of the user list. */
export interface UserFilter {
  q: string;
  role: string;
  disabled: '' | 'true' | 'false';
}

/** Upload state: percentage sent, then done. */
export interface UploadProgress {
  percent: number;
  done: boolean;
}

@Injectable({ providedIn: 'root' })
export class UsersApi {
  private readonly http = inject(HttpClient);
  private readonly pictures = new Map<string, Promise<string | null>>();

  list(filter: () => UserFilter): PagedList<User> {
    return new PagedList<User>((cursor, limit) => {
      let params = new HttpParams().set('limit', limit);
      if (cursor) params = params.set('cursor', cursor);
      const f = filter();
      // `q` matches part of the name or part of the email, either case (issue 14: "example.com" found no one).
      const q = f.q.trim();
      if (q) params = params.set('q', q);
      if (f.role) params = params.set('role', f.role);
      // There is no `disabled` filter on the gateway: the status filter applies to the page shown.
      return this.http.get<Page<User>>('/api/v1/users', { params }).pipe(
        map(asPage),
        map((page) => (f.disabled ? { ...page, items: page.items.filter((u) => String(u.disabled) === f.disabled) } : page)),
      );
    });
  }

  create(user: NewUser): Promise<User> {
    return firstValueFrom(this.http.post<User>('/api/v1/users', user));
  }

  update(id: string, patch: UserPatch): Promise<User> {
    return firstValueFrom(this.http.patch<User>(`/api/v1/users/${encodeURIComponent(id)}`, patch));
  }

  /**
   * The profile picture as an object URL (the endpoint needs the bearer token, so no plain `<img src>`);
   * null when the user has none. Cached until replaced.
   */
  picture(id: string): Promise<string | null> {
    let cached = this.pictures.get(id);
    if (!cached) {
      cached = firstValueFrom(this.http.get(`/api/v1/users/${encodeURIComponent(id)}/pfp`, { responseType: 'blob' }))
        .then((blob) => (blob.size ? URL.createObjectURL(blob) : null))
        .catch((e: unknown) => {
          if (e instanceof ApiError && e.status !== 404) this.pictures.delete(id);
          return null;
        });
      this.pictures.set(id, cached);
    }
    return cached;
  }

  /** Uploads a new picture (multipart field `file`) and reports progress. */
  uploadPicture(id: string, file: File): Observable<UploadProgress> {
    const body = new FormData();
    body.append('file', file, file.name);
    return this.http.put(`/api/v1/users/${encodeURIComponent(id)}/pfp`, body, { reportProgress: true, observe: 'events' }).pipe(
      filter((e) => e.type === HttpEventType.UploadProgress || e.type === HttpEventType.Response),
      map((e) => {
        if (e.type === HttpEventType.Response) {
          this.forgetPicture(id);
          return { percent: 100, done: true };
        }
        return { percent: e.total ? Math.round((e.loaded / e.total) * 100) : 0, done: false };
      }),
    );
  }

  private forgetPicture(id: string): void {
    void this.pictures.get(id)?.then((url) => url && URL.revokeObjectURL(url));
    this.pictures.delete(id);
  }
}
