import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom, map } from 'rxjs';
import type { ServerSubuser } from '@encedeus/contracts/access';
import { Page, PagedList, asPage } from '../shared/paged-list';

/** Life-cycle state of a server as the agent reports it. */
export type ServerState = 'installing' | 'install_failed' | 'offline' | 'starting' | 'running' | 'stopping' | 'crashed';

/** What a power button asks for. */
export type PowerAction = 'start' | 'stop' | 'restart' | 'kill';

/** Resource limits of a server (and a template's defaults). */
export interface Limits {
  memory_mb: number;
  cpu_percent: number;
  disk_mb: number;
}

/** One usage sample (`server.usage` push, `usage` field). */
export interface ServerUsage {
  serverId?: string;
  cpu_percent: number;
  memory_bytes: number;
  memory_limit_bytes: number;
  disk_bytes: number;
  at: string;
}

/** A game or app server made from a template and placed on a node. */
export interface Server {
  id: string;
  name: string;
  template_id: string;
  node_id: string;
  owner_id: string;
  state: ServerState;
  limits: Limits;
  variables: Record<string, string>;
  ports: unknown[];
  usage: ServerUsage | null;
  /** What the owner asked for last. */
  desired?: 'running' | 'stopped';
  /** How the last run ended, when it did. */
  last_exit?: { code: number | null; signal: string | null; reason?: string; at: string } | null;
  /** Where to connect with an SFTP client (issue 11); absent until the node serves SFTP. */
  sftp?: { host: string; port: number; username: string } | null;
  /** Other users and what they may do here (docs/subusers.md): all of them for whoever manages them, else only one's own grant. */
  subusers?: ServerSubuser[];
  /** The startup line the next start runs (the server's own, else its template's), `{{VAR}}` unrendered. */
  startup?: string;
  /** Whether the template lets the owner change `startup`; `servers.manage` always may. */
  startup_editable?: boolean;
}

/** Body of `POST /servers`; `node_id` empty lets the scheduler place it. */
export interface ServerDraft {
  name: string;
  template_id: string;
  node_id?: string;
  limits: Limits;
  variables: Record<string, string>;
}

/** Filters of the server list. */
export interface ServerFilter {
  q: string;
  state: ServerState | '';
}

@Injectable({ providedIn: 'root' })
export class ServersApi {
  private readonly http = inject(HttpClient);

  list(filter: () => ServerFilter): PagedList<Server> {
    return new PagedList<Server>((cursor, limit) => {
      let params = new HttpParams().set('limit', limit);
      if (cursor) params = params.set('cursor', cursor);
      const f = filter();
      if (f.q) params = params.set('q', f.q);
      if (f.state) params = params.set('state', f.state);
      return this.http.get<Page<Server>>('/api/v1/servers', { params }).pipe(map(asPage));
    });
  }

  /** The first `limit` servers, for the dashboard's counts. */
  async firstPage(limit = 200): Promise<Server[]> {
    return asPage(await firstValueFrom(this.http.get<Page<Server>>('/api/v1/servers', { params: { limit } }))).items;
  }

  get(id: string): Promise<Server> {
    return firstValueFrom(this.http.get<Server>(`/api/v1/servers/${encodeURIComponent(id)}`));
  }

  create(draft: ServerDraft): Promise<Server> {
    return firstValueFrom(this.http.post<Server>('/api/v1/servers', draft));
  }

  /** Changes limits, variables and/or the startup line (null: the template's again); omitted fields stay as they are. */
  update(id: string, patch: Partial<Pick<Server, 'name' | 'limits' | 'variables'>> & { startup?: string | null }): Promise<Server> {
    return firstValueFrom(this.http.patch<Server>(`/api/v1/servers/${encodeURIComponent(id)}`, patch));
  }

  remove(id: string): Promise<unknown> {
    return firstValueFrom(this.http.delete(`/api/v1/servers/${encodeURIComponent(id)}`));
  }

  /** Runs a power action; answers the server in its state after the action (later changes come as `server.state` pushes). */
  power(id: string, action: PowerAction): Promise<Server> {
    return firstValueFrom(this.http.post<Server>(`/api/v1/servers/${encodeURIComponent(id)}/power`, { action }));
  }

  /** REST fallback of the `servers.command` socket call. */
  command(id: string, command: string): Promise<unknown> {
    return firstValueFrom(this.http.post(`/api/v1/servers/${encodeURIComponent(id)}/command`, { command }));
  }
}
