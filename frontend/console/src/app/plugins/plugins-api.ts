import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject, signal } from '@angular/core';
import { firstValueFrom } from 'rxjs';
import type { CatalogPluginView, CatalogTemplateView, InstalledPluginView, PluginLogLine, RepositoryView } from '@encedeus/contracts/plugins';

export type { CatalogPluginView, CatalogTemplateView, InstalledPluginView, PluginLogLine, RepositoryView };

/** A parked event of a plugin (GET /plugins/:id/logs). */
export interface DeadLetter {
  sequence: number;
  event_id: string;
  event_type: string;
  error: string;
  attempts: number;
  parked_at: string;
}

/** REST of the plugins service: catalog, installed plugins, repositories, template catalog. Lists live in signals. */
@Injectable({ providedIn: 'root' })
export class PluginsApi {
  private readonly http = inject(HttpClient);
  readonly installed = signal<InstalledPluginView[]>([]);
  readonly catalog = signal<CatalogPluginView[]>([]);
  readonly repositories = signal<RepositoryView[]>([]);
  readonly templates = signal<CatalogTemplateView[]>([]);

  async loadInstalled(): Promise<void> {
    this.installed.set(await firstValueFrom(this.http.get<InstalledPluginView[]>('/api/v1/plugins/installed')));
  }

  async loadCatalog(q = ''): Promise<void> {
    const params = q ? new HttpParams().set('q', q) : undefined;
    this.catalog.set(await firstValueFrom(this.http.get<CatalogPluginView[]>('/api/v1/plugins/catalog', { params })));
  }

  async loadRepositories(): Promise<void> {
    this.repositories.set(await firstValueFrom(this.http.get<RepositoryView[]>('/api/v1/plugins/repositories')));
  }

  async loadTemplates(q = ''): Promise<void> {
    const params = q ? new HttpParams().set('q', q) : undefined;
    this.templates.set(await firstValueFrom(this.http.get<CatalogTemplateView[]>('/api/v1/catalog/templates', { params })));
  }

  install(catalogId: string, config: unknown, approve: boolean): Promise<InstalledPluginView> {
    return firstValueFrom(this.http.post<InstalledPluginView>('/api/v1/plugins/install', { catalog_id: catalogId, config, ...(approve ? { approve: true } : {}) }));
  }

  setEnabled(id: string, enabled: boolean): Promise<InstalledPluginView> {
    return firstValueFrom(this.http.post<InstalledPluginView>(`/api/v1/plugins/${encodeURIComponent(id)}/${enabled ? 'enable' : 'disable'}`, {}));
  }

  uninstall(id: string): Promise<unknown> {
    return firstValueFrom(this.http.delete(`/api/v1/plugins/${encodeURIComponent(id)}`));
  }

  rate(id: string, rating: number): Promise<unknown> {
    return firstValueFrom(this.http.post(`/api/v1/plugins/${encodeURIComponent(id)}/rate`, { rating }));
  }

  logs(id: string): Promise<{ logs: PluginLogLine[]; dead_letters: DeadLetter[] }> {
    return firstValueFrom(this.http.get<{ logs: PluginLogLine[]; dead_letters: DeadLetter[] }>(`/api/v1/plugins/${encodeURIComponent(id)}/logs`));
  }

  addRepository(body: { name: string; url: string; branch: string }): Promise<RepositoryView> {
    return firstValueFrom(this.http.post<RepositoryView>('/api/v1/plugins/repositories', body));
  }

  syncRepository(id: string): Promise<RepositoryView> {
    return firstValueFrom(this.http.post<RepositoryView>(`/api/v1/plugins/repositories/${encodeURIComponent(id)}/sync`, {}));
  }

  removeRepository(id: string): Promise<unknown> {
    return firstValueFrom(this.http.delete(`/api/v1/plugins/repositories/${encodeURIComponent(id)}`));
  }

  installTemplate(id: string): Promise<{ id: string; name: string }> {
    return firstValueFrom(this.http.post<{ id: string; name: string }>(`/api/v1/catalog/templates/${encodeURIComponent(id)}/install`, {}));
  }
}

/** One field of the install form, from a top-level property of the plugin's config_schema. */
export interface ConfigField {
  name: string;
  type: 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'json';
  required: boolean;
  title: string;
  description: string;
  options: string[];
  default: unknown;
}

/**
 * The fields of an install form from a JSON Schema: each top-level property of an object schema
 * becomes a field (string, number, integer, boolean, enum of strings); anything else is edited as
 * JSON. The server validates the result against the whole schema (422 names the fields).
 */
export function configFields(schema: unknown): ConfigField[] {
  const s = schema as { type?: unknown; properties?: Record<string, any>; required?: unknown } | null;
  if (!s || typeof s !== 'object' || !s.properties || typeof s.properties !== 'object') return [];
  const required = new Set(Array.isArray(s.required) ? s.required.map(String) : []);
  return Object.entries(s.properties).map(([name, p]) => {
    const prop = (p ?? {}) as { type?: unknown; enum?: unknown; title?: unknown; description?: unknown; default?: unknown };
    const options = Array.isArray(prop.enum) && prop.enum.every((v) => typeof v === 'string') ? (prop.enum as string[]) : [];
    const type: ConfigField['type'] = options.length
      ? 'enum'
      : prop.type === 'string' || prop.type === 'number' || prop.type === 'integer' || prop.type === 'boolean'
        ? prop.type
        : 'json';
    return { name, type, required: required.has(name), title: typeof prop.title === 'string' ? prop.title : name, description: typeof prop.description === 'string' ? prop.description : '', options, default: prop.default };
  });
}

/** The config object from the form's raw values (empty optional fields are left out; JSON fields parsed). */
export function configFrom(fields: ConfigField[], values: Record<string, unknown>): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const f of fields) {
    const v = values[f.name];
    if (v === '' || v === undefined || v === null) continue;
    if (f.type === 'number' || f.type === 'integer') config[f.name] = Number(v);
    else if (f.type === 'json') config[f.name] = JSON.parse(String(v));
    else config[f.name] = v;
  }
  return config;
}
