import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCheckboxModule } from '@angular/material/checkbox';
import { MAT_DIALOG_DATA, MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatSelectModule } from '@angular/material/select';
import { toApiError, type ApiError } from '../core/api-error';
import { StateChip } from '../shared/state-chip';
import { PluginsApi, configFields, configFrom, type CatalogPluginView } from './plugins-api';

/**
 * Installs a catalog plugin: the form is rendered from its config_schema, its permissions and
 * risk are shown, and a high-risk plugin needs the approval box ticked (the server checks that the
 * approver is an administrator). Field errors of a 422 are shown under their fields.
 */
@Component({
  selector: 'adm-plugin-install-dialog',
  imports: [FormsModule, MatButtonModule, MatCheckboxModule, MatDialogModule, MatFormFieldModule, MatInputModule, MatSelectModule, StateChip],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>Install {{ plugin.name }} <small>{{ plugin.version }}</small></h2>
    <mat-dialog-content>
      <p>{{ plugin.description }}</p>
      <p>Risk: <adm-state-chip [state]="plugin.risk" data-testid="install-risk" /></p>
      <p>Events: <code>{{ plugin.events.join(', ') }}</code></p>
      <ul data-testid="install-permissions">
        @for (p of plugin.permissions; track p) { <li><code>{{ p }}</code></li> } @empty { <li>log only</li> }
      </ul>
      @for (f of fields; track f.name) {
        @switch (f.type) {
          @case ('boolean') {
            <mat-checkbox [(ngModel)]="values[f.name]" [attr.data-testid]="'config-' + f.name">{{ f.title }}</mat-checkbox>
          }
          @case ('enum') {
            <mat-form-field class="full">
              <mat-label>{{ f.title }}</mat-label>
              <mat-select [(ngModel)]="values[f.name]" [required]="f.required" [attr.data-testid]="'config-' + f.name">
                @for (o of f.options; track o) { <mat-option [value]="o">{{ o }}</mat-option> }
              </mat-select>
              <mat-hint>{{ fieldError(f.name) || f.description }}</mat-hint>
            </mat-form-field>
          }
          @default {
            <mat-form-field class="full">
              <mat-label>{{ f.title }}</mat-label>
              <input matInput [type]="f.type === 'number' || f.type === 'integer' ? 'number' : 'text'" [(ngModel)]="values[f.name]" [required]="f.required"
                     [attr.data-testid]="'config-' + f.name" />
              <mat-hint [class.error]="!!fieldError(f.name)">{{ fieldError(f.name) || f.description }}</mat-hint>
            </mat-form-field>
          }
        }
      }
      @if (plugin.risk === 'high') {
        <mat-checkbox [(ngModel)]="approve" data-testid="install-approve">I approve these API permissions (administrators only)</mat-checkbox>
      }
      @if (error(); as e) { <p class="form-error" role="alert" data-testid="install-error">{{ e.message }}</p> }
    </mat-dialog-content>
    <mat-dialog-actions align="end">
      <button mat-button mat-dialog-close>Cancel</button>
      <button mat-flat-button (click)="install()" [disabled]="busy()" data-testid="install-submit">Install</button>
    </mat-dialog-actions>
  `,
})
export class PluginInstallDialog {
  protected readonly plugin = inject<CatalogPluginView>(MAT_DIALOG_DATA);
  private readonly api = inject(PluginsApi);
  private readonly ref = inject(MatDialogRef<PluginInstallDialog>);
  protected readonly fields = configFields(this.plugin.config_schema);
  protected readonly values: Record<string, unknown> = Object.fromEntries(this.fields.map((f) => [f.name, f.default ?? (f.type === 'boolean' ? false : '')]));
  protected approve = false;
  protected readonly busy = signal(false);
  protected readonly error = signal<ApiError | null>(null);

  protected fieldError(name: string): string {
    return this.error()?.fields.find((f) => f.path === `config.${name}`)?.message ?? '';
  }

  protected async install(): Promise<void> {
    this.busy.set(true);
    this.error.set(null);
    try {
      const installed = await this.api.install(this.plugin.id, configFrom(this.fields, this.values), this.approve);
      this.ref.close(installed);
    } catch (e) {
      this.error.set(toApiError(e));
    } finally {
      this.busy.set(false);
    }
  }
}
