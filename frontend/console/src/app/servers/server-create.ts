import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import { FormControl, FormGroup, NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSelectModule } from '@angular/material/select';
import { Router, RouterLink } from '@angular/router';
import { ApiError, toApiError } from '../core/api-error';
import { Auth } from '../core/auth';
import { FleetNode, NodesApi } from '../nodes/nodes-api';
import { applyServerErrors, errorText } from '../shared/form-errors';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { ServersApi } from './servers-api';
import { Template, TemplatesApi } from './templates-api';
import { VariableField, VariableFields, variableFields, variablesGroup } from './variable-fields';

/** Creates a server from a template: name, placement, limits and the template's variables. */
@Component({
  selector: 'adm-server-create',
  imports: [ReactiveFormsModule, MatCardModule, MatFormFieldModule, MatInputModule, MatSelectModule, MatButtonModule, MatProgressBarModule, RouterLink, Icon, Notice, VariableFields],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head">
      <a mat-icon-button routerLink="/servers" aria-label="Back to servers"><adm-icon name="back" /></a>
      <h1>New server</h1>
    </header>
    @if (loading() || saving()) {
      <mat-progress-bar mode="indeterminate" />
    }
    @if (loadError(); as e) {
      <adm-notice [error]="e" (retry)="load()" />
    } @else if (!loading() && templates().length === 0) {
      <adm-notice data-testid="no-templates">There are no templates yet. An administrator must add one first.</adm-notice>
    } @else {
      <form [formGroup]="form" (ngSubmit)="save()" data-testid="server-form">
        @if (formError(); as e) {
          <p class="form-error" role="alert" data-testid="server-form-error">{{ e }}</p>
        }
        <mat-card appearance="outlined" class="section">
          <mat-card-header><mat-card-title>Basics</mat-card-title></mat-card-header>
          <mat-card-content><div class="form-grid">
            <mat-form-field>
              <mat-label>Name</mat-label>
              <input matInput formControlName="name" data-testid="server-name-input" />
              <mat-error>{{ errorText(form.controls.name) }}</mat-error>
            </mat-form-field>
            <mat-form-field>
              <mat-label>Template</mat-label>
              <mat-select formControlName="template_id" (valueChange)="pickTemplate($event)" data-testid="server-template-select">
                @for (t of templates(); track t.id) {
                  <mat-option [value]="t.id">{{ t.name }} ({{ t.driver }})</mat-option>
                }
              </mat-select>
              <mat-error>{{ errorText(form.controls.template_id) }}</mat-error>
            </mat-form-field>
            <mat-form-field>
              <mat-label>Node</mat-label>
              <mat-select formControlName="node_id" data-testid="server-node-select">
                <mat-option value="">Place automatically</mat-option>
                @for (n of nodes(); track n.id) {
                  <!-- A draining or offline node takes no new server (the API refuses it with a 409). -->
                  <mat-option [value]="n.id" [disabled]="n.draining || n.state === 'offline'">{{ n.name }}{{ n.draining ? ' (draining)' : n.state === 'offline' ? ' (offline)' : '' }}</mat-option>
                }
              </mat-select>
              <mat-error>{{ errorText(form.controls.node_id) }}</mat-error>
            </mat-form-field>
          </div></mat-card-content>
          @if (template(); as t) {
            <mat-card-content><p class="hint mono" data-testid="template-startup">{{ t.image ? t.image + ' · ' : '' }}{{ t.startup }}</p></mat-card-content>
          }
        </mat-card>
        <mat-card appearance="outlined" class="section" formGroupName="limits">
          <mat-card-header><mat-card-title>Limits</mat-card-title></mat-card-header>
          <mat-card-content><div class="form-grid">
            <mat-form-field>
              <mat-label>Memory (MB)</mat-label>
              <input matInput type="number" formControlName="memory_mb" data-testid="server-memory-input" />
              <mat-error>{{ errorText(form.controls.limits.controls.memory_mb) }}</mat-error>
            </mat-form-field>
            <mat-form-field>
              <mat-label>CPU (%)</mat-label>
              <input matInput type="number" formControlName="cpu_percent" data-testid="server-cpu-input" />
              <mat-error>{{ errorText(form.controls.limits.controls.cpu_percent) }}</mat-error>
            </mat-form-field>
            <mat-form-field>
              <mat-label>Disk (MB)</mat-label>
              <input matInput type="number" formControlName="disk_mb" data-testid="server-disk-input" />
              <mat-error>{{ errorText(form.controls.limits.controls.disk_mb) }}</mat-error>
            </mat-form-field>
          </div></mat-card-content>
        </mat-card>
        <mat-card appearance="outlined" class="section">
          <mat-card-header><mat-card-title>Variables</mat-card-title></mat-card-header>
          <mat-card-content>
            <adm-variable-fields [group]="form.controls.variables" [fields]="fields()" />
          </mat-card-content>
        </mat-card>
        <div class="form-actions">
          <a mat-button routerLink="/servers">Cancel</a>
          <button mat-flat-button type="submit" [disabled]="saving()" data-testid="server-submit">Create server</button>
        </div>
      </form>
    }
  `,
})
export class ServerCreate {
  private readonly servers = inject(ServersApi);
  private readonly templatesApi = inject(TemplatesApi);
  private readonly nodesApi = inject(NodesApi);
  private readonly auth = inject(Auth);
  private readonly router = inject(Router);
  private readonly fb = inject(NonNullableFormBuilder);

  protected readonly form = this.fb.group({
    name: ['', [Validators.required, Validators.maxLength(100)]],
    template_id: ['', Validators.required],
    node_id: [''],
    limits: this.fb.group({
      memory_mb: [1024, [Validators.required, Validators.min(16)]],
      cpu_percent: [100, [Validators.required, Validators.min(1)]],
      disk_mb: [2048, [Validators.required, Validators.min(1)]],
    }),
    variables: new FormGroup<Record<string, FormControl<string>>>({}),
  });
  protected readonly templates = signal<Template[]>([]);
  protected readonly nodes = signal<FleetNode[]>([]);
  protected readonly template = signal<Template | null>(null);
  protected readonly fields = signal<VariableField[]>([]);
  protected readonly loading = signal(false);
  protected readonly saving = signal(false);
  protected readonly loadError = signal<ApiError | null>(null);
  protected readonly formError = signal<string | null>(null);
  protected readonly canSeeNodes = computed(() => this.auth.can('nodes.read'));
  protected readonly errorText = errorText;

  constructor() {
    void this.load();
  }

  protected async load(): Promise<void> {
    this.loading.set(true);
    this.loadError.set(null);
    try {
      const [templates, nodes] = await Promise.all([
        this.templatesApi.all(),
        this.canSeeNodes() ? this.nodesApi.firstPage().catch(() => []) : Promise.resolve([]),
      ]);
      this.templates.set(templates);
      this.nodes.set(nodes);
      if (templates.length === 1) {
        this.form.controls.template_id.setValue(templates[0].id);
        this.pickTemplate(templates[0].id);
      }
    } catch (e) {
      this.loadError.set(toApiError(e));
    } finally {
      this.loading.set(false);
    }
  }

  protected pickTemplate(id: string): void {
    const t = this.templates().find((x) => x.id === id) ?? null;
    this.template.set(t);
    if (!t) return;
    if (t.limits) this.form.controls.limits.setValue({ ...this.form.controls.limits.getRawValue(), ...t.limits });
    this.form.setControl('variables', variablesGroup(t.variables ?? []));
    this.fields.set(variableFields(t.variables ?? []));
  }

  protected async save(): Promise<void> {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      this.formError.set('Some fields need attention.');
      return;
    }
    const v = this.form.getRawValue();
    this.saving.set(true);
    this.formError.set(null);
    try {
      const server = await this.servers.create({
        name: v.name,
        template_id: v.template_id,
        ...(v.node_id ? { node_id: v.node_id } : {}),
        limits: { memory_mb: Number(v.limits.memory_mb), cpu_percent: Number(v.limits.cpu_percent), disk_mb: Number(v.limits.disk_mb) },
        variables: v.variables,
      });
      await this.router.navigate(['/servers', server.id]);
    } catch (e) {
      this.formError.set(applyServerErrors(this.form, toApiError(e)).join(' ') || null);
    } finally {
      this.saving.set(false);
    }
  }
}
