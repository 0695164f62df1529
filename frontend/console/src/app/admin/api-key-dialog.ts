import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSelectModule } from '@angular/material/select';
import { toApiError } from '../core/api-error';
import { CopyButton } from '../shared/copy-button';
import { applyServerErrors, errorText } from '../shared/form-errors';
import { ApiKeysApi, IssuedKey, ServiceAccount } from './api-keys-api';
import { PermissionPicker } from './permission-picker';
import { PermissionInfo } from './roles-api';

/** Inputs of the API key dialog. */
export interface ApiKeyDialogData {
  catalog: PermissionInfo[];
  accounts: ServiceAccount[];
}

/** Issues an API key and shows the secret exactly once. */
@Component({
  selector: 'adm-api-key-dialog',
  imports: [ReactiveFormsModule, MatDialogModule, MatFormFieldModule, MatInputModule, MatSelectModule, MatButtonModule, MatProgressBarModule, PermissionPicker, CopyButton],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>{{ issued() ? 'Your new API key' : 'New API key' }}</h2>
    @if (saving()) {
      <mat-progress-bar mode="indeterminate" />
    }
    @if (issued(); as k) {
      <mat-dialog-content>
        <p><strong>Copy it now.</strong> It is stored hashed and will never be shown again.</p>
        <div class="secret" data-testid="api-key-secret">
          <code class="spacer">{{ k.key }}</code>
          <adm-copy-button [text]="k.key" label="Copy key" />
        </div>
      </mat-dialog-content>
      <mat-dialog-actions align="end">
        <button mat-flat-button [mat-dialog-close]="k" data-testid="api-key-done">I have copied it</button>
      </mat-dialog-actions>
    } @else {
      <form [formGroup]="form" (ngSubmit)="save()" data-testid="api-key-form">
        <mat-dialog-content>
          @if (formError(); as e) {
            <p class="form-error" role="alert">{{ e }}</p>
          }
          <div class="form-grid">
            <mat-form-field>
              <mat-label>Name</mat-label>
              <input matInput formControlName="name" data-testid="api-key-name" />
              <mat-error>{{ errorText(form.controls.name) }}</mat-error>
            </mat-form-field>
            <mat-form-field>
              <mat-label>Service account</mat-label>
              <mat-select formControlName="serviceAccountId" data-testid="api-key-account">
                <mat-option value="">None (my own key)</mat-option>
                @for (a of accounts; track a.id) {
                  <mat-option [value]="a.id">{{ a.name }}</mat-option>
                }
              </mat-select>
              <mat-error>{{ errorText(form.controls.serviceAccountId) }}</mat-error>
            </mat-form-field>
            <mat-form-field>
              <mat-label>Expires on</mat-label>
              <input matInput type="date" formControlName="expiresAt" [min]="today" data-testid="api-key-expires" />
              <mat-hint>Empty: never</mat-hint>
              <mat-error>{{ errorText(form.controls.expiresAt) }}</mat-error>
            </mat-form-field>
          </div>
          <h3>Permissions</h3>
          <adm-permission-picker [catalog]="catalog" [(selected)]="permissions" />
        </mat-dialog-content>
        <mat-dialog-actions align="end">
          <button mat-button type="button" mat-dialog-close>Cancel</button>
          <button mat-flat-button type="submit" [disabled]="saving()" data-testid="api-key-save">Create key</button>
        </mat-dialog-actions>
      </form>
    }
  `,
})
export class ApiKeyDialog {
  private readonly api = inject(ApiKeysApi);
  private readonly data = inject<ApiKeyDialogData>(MAT_DIALOG_DATA);
  private readonly ref = inject<MatDialogRef<ApiKeyDialog, IssuedKey>>(MatDialogRef);
  protected readonly catalog = this.data.catalog;
  protected readonly accounts = this.data.accounts;
  protected readonly today = new Date().toISOString().slice(0, 10);
  protected readonly form = inject(NonNullableFormBuilder).group({
    name: ['', [Validators.required, Validators.maxLength(64)]],
    serviceAccountId: [''],
    expiresAt: [''],
  });
  protected readonly permissions = signal<string[]>([]);
  protected readonly saving = signal(false);
  protected readonly formError = signal<string | null>(null);
  protected readonly issued = signal<IssuedKey | null>(null);
  protected readonly errorText = errorText;

  constructor() {
    // The secret must not vanish by a stray click or Escape.
    this.ref.disableClose = true;
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
      const key = await this.api.issue({
        name: v.name,
        permissions: this.permissions(),
        ...(v.serviceAccountId ? { serviceAccountId: v.serviceAccountId } : {}),
        ...(v.expiresAt ? { expiresAt: new Date(`${v.expiresAt}T23:59:59`).toISOString() } : {}),
      });
      this.issued.set(key);
    } catch (e) {
      this.formError.set(applyServerErrors(this.form, toApiError(e)).join(' ') || null);
    } finally {
      this.saving.set(false);
    }
  }
}
