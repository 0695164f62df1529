import { ChangeDetectionStrategy, Component, computed, effect, inject, input, output, signal, untracked } from '@angular/core';
import { FormControl, FormGroup, NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSnackBar } from '@angular/material/snack-bar';
import { toApiError } from '../core/api-error';
import { applyServerErrors, errorText } from '../shared/form-errors';
import { ServerAccess } from './server-access';
import { Server, ServersApi } from './servers-api';
import { Template, TemplateVariable } from './templates-api';
import { VariableField, VariableFields, variableFields, variablesGroup } from './variable-fields';

/** Name, limits, variables and startup line of an existing server (`PATCH /servers/:id`). */
@Component({
  selector: 'adm-server-settings',
  imports: [ReactiveFormsModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatProgressBarModule, VariableFields],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    @if (saving()) {
      <mat-progress-bar mode="indeterminate" />
    }
    <form [formGroup]="form" (ngSubmit)="save()" data-testid="server-settings">
      @if (formError(); as e) {
        <p class="form-error" role="alert">{{ e }}</p>
      }
      <mat-form-field class="full">
        <mat-label>Name</mat-label>
        <input matInput formControlName="name" autocomplete="off" maxlength="100" data-testid="settings-name" />
        <mat-error>{{ errorText(form.controls.name) }}</mat-error>
      </mat-form-field>
      <h3>Limits</h3>
      <div class="form-grid" formGroupName="limits">
        <mat-form-field>
          <mat-label>Memory (MB)</mat-label>
          <input matInput type="number" formControlName="memory_mb" data-testid="settings-memory" />
          <mat-error>{{ errorText(form.controls.limits.controls.memory_mb) }}</mat-error>
        </mat-form-field>
        <mat-form-field>
          <mat-label>CPU (%)</mat-label>
          <input matInput type="number" formControlName="cpu_percent" data-testid="settings-cpu" />
          <mat-error>{{ errorText(form.controls.limits.controls.cpu_percent) }}</mat-error>
        </mat-form-field>
        <mat-form-field>
          <mat-label>Disk (MB)</mat-label>
          <input matInput type="number" formControlName="disk_mb" data-testid="settings-disk" />
          <mat-error>{{ errorText(form.controls.limits.controls.disk_mb) }}</mat-error>
        </mat-form-field>
      </div>
      <h3>Variables</h3>
      <adm-variable-fields [group]="form.controls.variables" [fields]="fields()" />
      <h3>Startup</h3>
      <mat-form-field class="full">
        <mat-label>Startup command</mat-label>
        <textarea matInput formControlName="startup" rows="2" maxlength="8192" spellcheck="false" data-testid="settings-startup"></textarea>
        <mat-hint>{{ startupHint() }}</mat-hint>
        <mat-error>{{ errorText(form.controls.startup) }}</mat-error>
      </mat-form-field>
      <p class="hint">A new name shows at once; limits, variables and the startup command apply on the next start.</p>
      <div class="form-actions">
        <button mat-button type="button" (click)="reset()">Reset</button>
        <button mat-flat-button type="submit" [disabled]="saving() || form.pristine" data-testid="settings-save">Save</button>
      </div>
    </form>
  `,
})
export class ServerSettings {
  private readonly api = inject(ServersApi);
  private readonly snack = inject(MatSnackBar);
  private readonly fb = inject(NonNullableFormBuilder);
  private readonly access = inject(ServerAccess);
  readonly server = input.required<Server>();
  /** The server's template, for the variables' rules; without it every known variable is free text. */
  readonly template = input<Template | null>(null);
  readonly saved = output<Server>();

  protected readonly form = this.fb.group({
    name: ['', [Validators.required, Validators.maxLength(100)]],
    limits: this.fb.group({
      memory_mb: [0, [Validators.required, Validators.min(16)]],
      cpu_percent: [0, [Validators.required, Validators.min(1)]],
      disk_mb: [0, [Validators.required, Validators.min(1)]],
    }),
    variables: new FormGroup<Record<string, FormControl<string>>>({}),
    startup: ['', [Validators.maxLength(8192)]],
  });
  /** Contracts' rule: `servers.manage`, or the owner when the template sets `startup_editable`. */
  protected readonly mayEditStartup = computed(() => this.access.may(this.server(), 'startup'));
  protected readonly startupHint = computed(() =>
    this.mayEditStartup()
      ? '{{VAR}} stands for a variable (passed as an environment variable, never as shell text). Leave empty for the template\'s.'
      : 'The template does not let owners change it.',
  );
  protected readonly fields = signal<VariableField[]>([]);
  protected readonly saving = signal(false);
  protected readonly formError = signal<string | null>(null);
  protected readonly errorText = errorText;

  constructor() {
    effect(() => {
      this.server();
      this.template();
      this.mayEditStartup();
      untracked(() => this.reset());
    });
  }

  protected reset(): void {
    const server = this.server();
    const variables: TemplateVariable[] =
      this.template()?.variables ?? Object.keys(server.variables ?? {}).map((name) => ({ name, default: '', rules: '' }));
    this.form.setControl('variables', variablesGroup(variables, server.variables ?? {}));
    this.form.controls.name.setValue(server.name);
    this.form.controls.limits.setValue({ ...server.limits });
    this.fields.set(variableFields(variables));
    this.form.controls.startup.setValue(server.startup ?? '');
    if (this.mayEditStartup()) this.form.controls.startup.enable();
    else this.form.controls.startup.disable();
    this.form.markAsPristine();
    this.formError.set(null);
  }

  protected async save(): Promise<void> {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    const v = this.form.getRawValue();
    this.saving.set(true);
    this.formError.set(null);
    try {
      const limits = { memory_mb: Number(v.limits.memory_mb), cpu_percent: Number(v.limits.cpu_percent), disk_mb: Number(v.limits.disk_mb) };
      const name = v.name.trim();
      const renamed = name !== this.server().name ? { name } : {};
      const startup = v.startup.trim();
      // Sent only when changed, so a caller who may not change it can still save the rest.
      const startupChange = this.mayEditStartup() && startup !== (this.server().startup ?? '') ? { startup: startup || null } : {};
      const updated = await this.api.update(this.server().id, { ...renamed, limits, variables: v.variables, ...startupChange });
      this.snack.open('Settings saved', undefined, { duration: 3000 });
      this.saved.emit({ ...this.server(), ...renamed, limits, variables: v.variables, ...(updated && typeof updated === 'object' ? updated : {}) });
    } catch (e) {
      this.formError.set(applyServerErrors(this.form, toApiError(e)).join(' ') || null);
    } finally {
      this.saving.set(false);
    }
  }
}
