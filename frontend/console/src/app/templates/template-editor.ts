import { ChangeDetectionStrategy, Component, computed, effect, inject, input, signal, untracked } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { Router, RouterLink } from '@angular/router';
import { ApiError, toApiError } from '../core/api-error';
import { Auth } from '../core/auth';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { saveJson } from '../shared/download';
import { TemplateRecord, TemplatesAdminApi, templateBody } from './templates-admin-api';

/** What a new template starts from: a process server that echoes what it is sent. */
const SKELETON = {
  name: 'my-template',
  description: 'What this template runs',
  driver: 'process',
  startup: 'echo "Server ready"; while read line; do echo "echo: $line"; done',
  ready_pattern: 'Server ready',
  variables: [],
  stop: { signal: 'SIGTERM', timeout_s: 10 },
  limits: { memory_mb: 256, cpu_percent: 100, disk_mb: 1024 },
  restart: { on_crash: true, max_attempts: 3, backoff_ms: 5000 },
};

/**
 * Creates (`/templates/new`, optionally from a JSON file) or edits (`/templates/:id`) a
 * template as JSON, the body of `POST /templates`; the API's errors name the fields. Edits send
 * `If-Match`, so a template someone changed meanwhile is not overwritten (412).
 */
@Component({
  selector: 'adm-template-editor',
  imports: [MatCardModule, MatButtonModule, MatFormFieldModule, MatInputModule, MatProgressBarModule, RouterLink, Icon, Notice],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head">
      <a mat-icon-button routerLink="/templates" aria-label="Back to templates" data-testid="template-back"><adm-icon name="back" /></a>
      <h1>{{ isNew() ? 'New template' : (record()?.name ?? 'Template') }}</h1>
      <span class="spacer"></span>
      @if (record(); as r) {
        <button mat-stroked-button type="button" (click)="export(r)" data-testid="template-editor-export">Export JSON</button>
      }
    </header>
    @if (loadError(); as e) {
      <adm-notice [error]="e" (retry)="load()" />
    } @else {
      <mat-card appearance="outlined" class="section">
        <mat-card-content>
          @if (isNew()) {
            <p class="muted">Start from a JSON file: <input type="file" accept="application/json,.json" (change)="importFile($event)" data-testid="template-file" /></p>
          }
          @if (readOnly()) {
            <p class="muted" data-testid="template-readonly">{{ record()?.builtIn ? 'A built-in template cannot be changed; export it and import a copy.' : 'You may read templates but not change them (templates.manage).' }}</p>
          }
          <mat-form-field class="full">
            <mat-label>Template (JSON)</mat-label>
            <textarea matInput class="mono code" rows="24" spellcheck="false" [value]="text()" (input)="text.set($any($event.target).value)" [readonly]="readOnly()" data-testid="template-json"></textarea>
          </mat-form-field>
          @if (parseError(); as p) {
            <p class="form-error" role="alert" data-testid="template-parse-error">{{ p }}</p>
          }
          @if (saveError(); as e) {
            <div class="form-error" role="alert" data-testid="template-save-error">
              <p>{{ e.message }}</p>
              @for (f of e.fields; track $index) {
                <p><code>{{ f.path }}</code>: {{ f.message }}</p>
              }
            </div>
          }
          @if (!readOnly()) {
            <div class="form-actions">
              <button mat-flat-button type="button" (click)="save()" [disabled]="saving() || !!parseError()" data-testid="template-save">{{ isNew() ? 'Create' : 'Save' }}</button>
            </div>
          }
        </mat-card-content>
      </mat-card>
    }
  `,
  styles: `.code { white-space: pre; tab-size: 2; font-size: 13px; }`,
})
export class TemplateEditor {
  private readonly api = inject(TemplatesAdminApi);
  private readonly auth = inject(Auth);
  private readonly router = inject(Router);
  /** `new`, or a template id (route parameter). */
  readonly id = input<string>('new');
  protected readonly isNew = computed(() => this.id() === 'new');
  protected readonly record = signal<TemplateRecord | null>(null);
  protected readonly text = signal('');
  protected readonly loadError = signal<ApiError | null>(null);
  protected readonly saveError = signal<ApiError | null>(null);
  protected readonly saving = signal(false);
  protected readonly readOnly = computed(() => !this.auth.can('templates.manage') || !!this.record()?.builtIn);
  protected readonly parseError = computed(() => {
    try {
      const value = JSON.parse(this.text()) as unknown;
      return value && typeof value === 'object' && !Array.isArray(value) ? null : 'The template must be a JSON object';
    } catch (e) {
      return `Not valid JSON: ${(e as Error).message}`;
    }
  });

  constructor() {
    effect(() => {
      this.id();
      untracked(() => void this.load());
    });
  }

  async load(): Promise<void> {
    this.loadError.set(null);
    this.saveError.set(null);
    if (this.isNew()) {
      this.record.set(null);
      this.text.set(JSON.stringify(SKELETON, null, 2));
      return;
    }
    try {
      const r = await this.api.get(this.id());
      this.record.set(r);
      this.text.set(JSON.stringify(templateBody(r), null, 2));
    } catch (e) {
      this.loadError.set(toApiError(e));
    }
  }

  protected async importFile(event: Event): Promise<void> {
    const file = (event.target as HTMLInputElement).files?.[0];
    if (!file) return;
    if (file.size > 1024 * 1024) {
      this.saveError.set(new ApiError('The file is larger than 1 MiB', 'PAYLOAD_TOO_LARGE', 0));
      return;
    }
    const raw = await file.text();
    try {
      this.text.set(JSON.stringify(templateBody(JSON.parse(raw) as Partial<TemplateRecord>), null, 2));
      this.saveError.set(null);
    } catch {
      this.text.set(raw);
    }
  }

  protected export(r: TemplateRecord): void {
    saveJson(`${r.name.replace(/[^\w.-]+/g, '_') || 'template'}.json`, templateBody(r));
  }

  protected async save(): Promise<void> {
    if (this.parseError()) return;
    this.saving.set(true);
    this.saveError.set(null);
    try {
      const body = JSON.parse(this.text()) as Record<string, unknown>;
      const current = this.record();
      const saved = current ? await this.api.update(current.id, current.version, body) : await this.api.create(body);
      if (current) {
        this.record.set(saved);
        this.text.set(JSON.stringify(templateBody(saved), null, 2));
      } else {
        await this.router.navigate(['/templates', saved.id], { replaceUrl: true });
      }
    } catch (e) {
      this.saveError.set(toApiError(e));
    } finally {
      this.saving.set(false);
    }
  }
}
