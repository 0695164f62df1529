import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom } from 'rxjs';
import { Page, asPage } from '../shared/paged-list';
import { Limits } from './servers-api';

/** A variable a template asks for; `rules` is a Pterodactyl-style rule string. */
export interface TemplateVariable {
  name: string;
  default: string | number | boolean | null;
  rules: string | string[];
  description?: string;
}

/** What servers are made from (like a Pterodactyl egg). */
export interface Template {
  id: string;
  name: string;
  driver: 'docker' | 'process';
  image?: string;
  startup: string;
  variables: TemplateVariable[];
  stop: { command?: string; signal?: string; timeout_s: number };
  ready_pattern: string;
  limits: Limits;
}

@Injectable({ providedIn: 'root' })
export class TemplatesApi {
  private readonly http = inject(HttpClient);

  async all(): Promise<Template[]> {
    return asPage(await firstValueFrom(this.http.get<Page<Template>>('/api/v1/templates', { params: { limit: 100 } }))).items;
  }

  get(id: string): Promise<Template> {
    return firstValueFrom(this.http.get<Template>(`/api/v1/templates/${encodeURIComponent(id)}`));
  }
}
