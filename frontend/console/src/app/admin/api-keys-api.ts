import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom, map } from 'rxjs';
import { Page, PagedList, asPage } from '../shared/paged-list';
import { RoleRef } from './users-api';

/** Users scanned per page when looking for service accounts (the gateway's maximum page). */
const ACCOUNT_SCAN = 500;

export interface ApiKey {
  id: string;
  name: string;
  /** The first characters of the key, to recognise it (`enc_ab12…`). */
  prefix: string;
  permissions: string[];
  expiresAt: string | null;
  serviceAccountId: string | null;
  createdAt: string;
  /** Set once revoked; revoked keys stay in the list. */
  revokedAt?: string | null;
}

/** The answer of `POST /api-keys`: the only time the secret is visible. */
export interface IssuedKey extends ApiKey {
  key: string;
}

export interface ServiceAccount {
  id: string;
  name: string;
  roles?: RoleRef[];
  role_id?: string;
  createdAt?: string;
}

/** Body of `POST /api-keys`. */
export interface KeyDraft {
  name: string;
  permissions: string[];
  expiresAt?: string;
  serviceAccountId?: string;
}

@Injectable({ providedIn: 'root' })
export class ApiKeysApi {
  private readonly http = inject(HttpClient);

  keys(): PagedList<ApiKey> {
    return new PagedList<ApiKey>((cursor, limit) => {
      let params = new HttpParams().set('limit', limit);
      if (cursor) params = params.set('cursor', cursor);
      return this.http.get<Page<ApiKey>>('/api/v1/api-keys', { params }).pipe(map(asPage));
    });
  }

  issue(draft: KeyDraft): Promise<IssuedKey> {
    return firstValueFrom(this.http.post<IssuedKey>('/api/v1/api-keys', draft));
  }

  revoke(id: string): Promise<unknown> {
    return firstValueFrom(this.http.delete(`/api/v1/api-keys/${encodeURIComponent(id)}`));
  }

  /**
   * Service accounts are users flagged `serviceAccount`; the gateway has no `GET /service-accounts`,
   * so they are read from `GET /users` (the largest page, filtered here: there are few of them).
   */
  accounts(): PagedList<ServiceAccount> {
    return new PagedList<ServiceAccount>((cursor) => this.accountPage(cursor));
  }

  async allAccounts(): Promise<ServiceAccount[]> {
    return (await firstValueFrom(this.accountPage(null))).items;
  }

  private accountPage(cursor: string | null) {
    let params = new HttpParams().set('limit', ACCOUNT_SCAN);
    if (cursor) params = params.set('cursor', cursor);
    return this.http.get<Page<ServiceAccount & { serviceAccount?: boolean }>>('/api/v1/users', { params }).pipe(
      map(asPage),
      map((page) => ({ ...page, items: page.items.filter((u) => u.serviceAccount) })),
    );
  }

  createAccount(account: { name: string; role_id: string }): Promise<ServiceAccount> {
    return firstValueFrom(this.http.post<ServiceAccount>('/api/v1/service-accounts', account));
  }

  /** A service account is a user: deleting it is `DELETE /users/:id`. */
  removeAccount(id: string): Promise<unknown> {
    return firstValueFrom(this.http.delete(`/api/v1/users/${encodeURIComponent(id)}`));
  }
}
