import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom, map } from 'rxjs';
import { ApiError } from '../core/api-error';
import { Page, PagedList, asPage } from '../shared/paged-list';

/** What the agent reported about its machine. */
export interface NodeSpec {
  cpu: { model: string; cores: number };
  memory_bytes: number;
  disk_bytes: number;
  os: string;
  kernel: string;
  agent_version: string;
  drivers: string[];
}

/** A machine of the fleet. Called FleetNode because `Node` is the DOM's. */
export interface FleetNode {
  id: string;
  name: string;
  memory_mb: number;
  cpu_percent: number;
  storage_size: string | number;
  tags: string[];
  state: 'online' | 'offline';
  draining: boolean;
  spec: NodeSpec | null;
  allocated: { memory_mb: number; cpu_percent: number; disk_mb: number } | null;
  lastSeenAt: string | null;
}

/** One usage sample of a node (`GET /nodes/:id/metrics`, `node.usage` pushes, history items). */
export interface NodeUsage {
  node_id?: string;
  nodeId?: string;
  memory_usage: number;
  memory_limit: number;
  cpu_percent: number;
  load?: number[] | number;
  disk_used?: number;
  disk_total?: number;
  net_rx?: number;
  net_tx?: number;
  at: string;
}

/** The one-time token the agent enrolls with. */
export interface Enrollment {
  token: string;
  expiresAt: string;
  command?: string;
}

/** Fields of the create-node form. */
export interface NodeDraft {
  name: string;
  memory_mb: number;
  cpu_percent: number;
  storage_size: string;
  tags: string[];
}

/** Range of the usage history chart. */
export type HistoryRange = '1h' | '6h' | '24h' | '7d';

@Injectable({ providedIn: 'root' })
export class NodesApi {
  private readonly http = inject(HttpClient);

  /** A paginated list; `search` filters by name when the gateway supports it. */
  list(search: () => string = () => ''): PagedList<FleetNode> {
    return new PagedList<FleetNode>((cursor, limit) => {
      let params = new HttpParams().set('limit', limit);
      if (cursor) params = params.set('cursor', cursor);
      if (search()) params = params.set('q', search());
      return this.http.get<Page<FleetNode>>('/api/v1/nodes', { params }).pipe(map(asPage));
    });
  }

  /** The first `limit` nodes, for the dashboard. */
  async firstPage(limit = 100): Promise<FleetNode[]> {
    const page = await firstValueFrom(this.http.get<Page<FleetNode>>('/api/v1/nodes', { params: { limit } }));
    return asPage(page).items;
  }

  get(id: string): Promise<FleetNode> {
    return firstValueFrom(this.http.get<FleetNode>(`/api/v1/nodes/${encodeURIComponent(id)}`));
  }

  create(draft: NodeDraft): Promise<FleetNode & { enrollment: Enrollment }> {
    return firstValueFrom(this.http.post<FleetNode & { enrollment: Enrollment }>('/api/v1/nodes', draft));
  }

  /** Stops placing servers on the node; running servers keep running. */
  drain(id: string): Promise<unknown> {
    return firstValueFrom(this.http.post(`/api/v1/nodes/${encodeURIComponent(id)}/drain`, {}));
  }

  /** Name, capacity, tags; `draining: false` lifts a drain. */
  update(id: string, patch: Partial<NodeDraft> & { draining?: boolean }): Promise<FleetNode> {
    return firstValueFrom(this.http.patch<FleetNode>(`/api/v1/nodes/${encodeURIComponent(id)}`, patch));
  }

  /** A new one-time enrollment token (an agent that lost its data directory). */
  enroll(id: string): Promise<Enrollment> {
    return firstValueFrom(this.http.post<Enrollment>(`/api/v1/nodes/${encodeURIComponent(id)}/enrollment`, {}));
  }

  /** The servers placed on the node (the first 100). */
  async servers(id: string): Promise<{ id: string; name: string; state: string; owner_id: string }[]> {
    const page = await firstValueFrom(this.http.get<Page<{ id: string; name: string; state: string; owner_id: string }>>('/api/v1/servers', { params: { node_id: id, limit: 100 } }));
    return asPage(page).items;
  }

  remove(id: string): Promise<unknown> {
    return firstValueFrom(this.http.delete(`/api/v1/nodes/${encodeURIComponent(id)}`));
  }

  /** Latest sample, or null when the node never reported. */
  async metrics(id: string): Promise<NodeUsage | null> {
    try {
      return await firstValueFrom(this.http.get<NodeUsage>(`/api/v1/nodes/${encodeURIComponent(id)}/metrics`));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }

  /** Usage history; null when the gateway has no history endpoint (404). */
  async history(id: string, range: HistoryRange): Promise<NodeUsage[] | null> {
    try {
      const reply = await firstValueFrom(
        this.http.get<Page<NodeUsage> | NodeUsage[]>(`/api/v1/nodes/${encodeURIComponent(id)}/metrics/history`, { params: { range } }),
      );
      return asPage(reply).items;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }
}
