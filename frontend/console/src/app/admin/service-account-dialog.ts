import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSelectModule } from '@angular/material/select';
import { toApiError } from '../core/api-error';
import { applyServerErrors, errorText } from '../shared/form-errors';
import { ApiKeysApi, ServiceAccount } from './api-keys-api';
import { Role } from './roles-api';

/** Creates a service account with one role. */
@Component({
  selector: 'adm-service-account-dialog',
  imports: [ReactiveFormsModule, MatDialogModule, MatFormFieldModule, MatInputModule, MatSelectModule, MatButtonModule, MatProgressBarModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>New service account</h2>
    @if (saving()) {
      <mat-progress-bar mode="indeterminate" />
    }
    <form [formGroup]="form" (ngSubmit)="save()" data-testid="service-account-form">
      <mat-dialog-content>
        @if (formError(); as e) {
          <p class="form-error" role="alert">{{ e }}</p>
        }
        <mat-form-field class="full">
          <mat-label>Name</mat-label>
          <input matInput formControlName="name" data-testid="service-account-name" />
          <mat-error>{{ errorText(form.controls.name) }}</mat-error>
        </mat-form-field>
        <mat-form-field class="full">
          <mat-label>Role</mat-label>
          <mat-select formControlName="role_id" data-testid="service-account-role">
            @for (r of roles; track r.id) {
              <mat-option [value]="r.id">{{ r.name }}</mat-option>
            }
          </mat-select>
          <mat-error>{{ errorText(form.controls.role_id) }}</mat-error>
        </mat-form-field>
      </mat-dialog-content>
      <mat-dialog-actions align="end">
        <button mat-button type="button" mat-dialog-close>Cancel</button>
        <button mat-flat-button type="submit" [disabled]="saving()" data-testid="service-account-save">Create</button>
      </mat-dialog-actions>
    </form>
  `,
})
export class ServiceAccountDialog {
  private readonly api = inject(ApiKeysApi);
  private readonly ref = inject<MatDialogRef<ServiceAccountDialog, ServiceAccount | true>>(MatDialogRef);
  protected readonly roles = inject<Role[]>(MAT_DIALOG_DATA);
  protected readonly form = inject(NonNullableFormBuilder).group({
    name: ['', [Validators.required, Validators.maxLength(64)]],
    role_id: ['', Validators.required],
  });
  protected readonly saving = signal(false);
  protected readonly formError = signal<string | null>(null);
  protected readonly errorText = errorText;

  protected async save(): Promise<void> {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    this.saving.set(true);
    this.formError.set(null);
    try {
      this.ref.close((await this.api.createAccount(this.form.getRawValue())) ?? true);
    } catch (e) {
      this.formError.set(applyServerErrors(this.form, toApiError(e)).join(' ') || null);
    } finally {
      this.saving.set(false);
    }
  }
}
