import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { SUBUSER_PERMISSIONS, type SubuserPermission } from '@encedeus/contracts/access';
import { firstValueFrom } from 'rxjs';
import { Page, asPage } from '../shared/paged-list';

export { SUBUSER_PERMISSIONS, type SubuserPermission };

/** A sub-user of a server as `GET /servers/:id/users` answers it (docs/subusers.md). */
export interface Subuser {
  server_id: string;
  user_id: string;
  name: string | null;
  email: string | null;
  permissions: SubuserPermission[];
  version: number;
}

/** What each grant allows, for the checkboxes. */
export const SUBUSER_PERMISSION_LABELS: Readonly<Record<SubuserPermission, string>> = {
  power: 'Start, stop, restart, kill',
  console: 'Console (read and type)',
  'files.read': 'Read files (and SFTP)',
  'files.write': 'Write files',
  'files.delete': 'Delete files',
  'files.archive': 'Compress and extract',
  'backups.read': 'See and download backups',
  'backups.create': 'Take backups',
  'backups.restore': 'Restore backups',
  'backups.delete': 'Delete backups',
  users: 'Manage sub-users',
};

/** `/api/v1/servers/:id/users`: who else may use one server. */
@Injectable({ providedIn: 'root' })
export class ServerUsersApi {
  private readonly http = inject(HttpClient);

  private base(serverId: string): string {
    return `/api/v1/servers/${encodeURIComponent(serverId)}/users`;
  }

  /** Every sub-user (a server has at most 100): pages are followed to the end. */
  async list(serverId: string): Promise<Subuser[]> {
    const items: Subuser[] = [];
    let cursor: string | null = null;
    do {
      const params: Record<string, string | number> = { limit: 100, ...(cursor ? { cursor } : {}) };
      const page: Page<Subuser> = asPage(await firstValueFrom(this.http.get<Page<Subuser>>(this.base(serverId), { params })));
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }

  add(serverId: string, email: string, permissions: SubuserPermission[]): Promise<Subuser> {
    return firstValueFrom(this.http.post<Subuser>(this.base(serverId), { email, permissions }));
  }

  update(serverId: string, userId: string, permissions: SubuserPermission[]): Promise<Subuser> {
    return firstValueFrom(this.http.patch<Subuser>(`${this.base(serverId)}/${encodeURIComponent(userId)}`, { permissions }));
  }

  remove(serverId: string, userId: string): Promise<unknown> {
    return firstValueFrom(this.http.delete(`${this.base(serverId)}/${encodeURIComponent(userId)}`));
  }
}
