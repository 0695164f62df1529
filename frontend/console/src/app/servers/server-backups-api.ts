import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import type { BackupView } from '@encedeus/contracts/backups';
import { Observable, firstValueFrom } from 'rxjs';
import { toApiError } from '../core/api-error';
import { Page, asPage } from '../shared/paged-list';

export type { BackupView };

/** Whether a backup is still being taken or restored (its row changes by itself; the buttons wait). */
export function isBusy(b: BackupView): boolean {
  return b.status === 'pending' || b.status === 'running' || b.restore?.status === 'pending' || b.restore?.status === 'running';
}

/** The status a row shows: the restore's while one is in progress or failed last, else the backup's. */
export function statusText(b: BackupView): string {
  if (b.restore?.status === 'pending' || b.restore?.status === 'running') return `restoring${b.restore.path ? ` ${b.restore.path}` : ''}`;
  if (b.restore?.status === 'failed') return `restore failed: ${b.restore.reason ?? ''}`;
  if (b.status === 'failed') return `failed: ${b.reason ?? ''}`;
  return b.status;
}

/** REST of one server's backups (`/api/v1/servers/:id/backups`, docs/backups.md); every method rejects with an ApiError. */
@Injectable({ providedIn: 'root' })
export class ServerBackupsApi {
  private readonly http = inject(HttpClient);

  private url(id: string, rest = ''): string {
    return `/api/v1/servers/${encodeURIComponent(id)}/backups${rest}`;
  }

  async list(id: string, cursor: string | null = null): Promise<Page<BackupView>> {
    const params: Record<string, string> = { limit: '50', ...(cursor ? { cursor } : {}) };
    return asPage(await this.call(this.http.get<Page<BackupView>>(this.url(id), { params })));
  }

  create(id: string, name?: string): Promise<BackupView> {
    return this.call(this.http.post<BackupView>(this.url(id), name ? { name } : {}));
  }

  /** The whole server, or one path of it; 409 while the server runs. */
  restore(id: string, backupId: string, path?: string): Promise<BackupView> {
    return this.call(this.http.post<BackupView>(this.url(id, `/${encodeURIComponent(backupId)}/restore`), path ? { path } : {}));
  }

  remove(id: string, backupId: string): Promise<unknown> {
    return this.call(this.http.delete(this.url(id, `/${encodeURIComponent(backupId)}`)));
  }

  /** The tar.gz, fetched with the caller's token (a plain link would carry none) and kept in memory until saved. */
  download(id: string, backupId: string): Promise<Blob> {
    return this.call(this.http.get(this.url(id, `/${encodeURIComponent(backupId)}/download`), { responseType: 'blob' }));
  }

  private async call<T>(request: Observable<T>): Promise<T> {
    try {
      return await firstValueFrom(request);
    } catch (e) {
      throw toApiError(e);
    }
  }
}
