import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { toApiError } from '../core/api-error';
import { applyServerErrors, errorText } from '../shared/form-errors';
import { PermissionPicker } from './permission-picker';
import { PermissionInfo, Role, RolesApi } from './roles-api';

/** What the role dialog edits: a role, or none to create one. */
export interface RoleDialogData {
  role: Role | null;
  catalog: PermissionInfo[];
  readOnly: boolean;
}

/** Creates or edits a role: its name and its permissions. */
@Component({
  selector: 'adm-role-dialog',
  imports: [ReactiveFormsModule, MatDialogModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatProgressBarModule, PermissionPicker],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>{{ role ? role.name : 'New role' }}</h2>
    @if (saving()) {
      <mat-progress-bar mode="indeterminate" />
    }
    <form [formGroup]="form" (ngSubmit)="save()" data-testid="role-form">
      <mat-dialog-content>
        @if (formError(); as e) {
          <p class="form-error" role="alert">{{ e }}</p>
        }
        <mat-form-field class="full">
          <mat-label>Name</mat-label>
          <input matInput formControlName="name" data-testid="role-name" />
          <mat-error>{{ errorText(form.controls.name) }}</mat-error>
        </mat-form-field>
        <adm-permission-picker [catalog]="catalog" [(selected)]="permissions" [disabled]="readOnly" />
      </mat-dialog-content>
      <mat-dialog-actions align="end">
        <button mat-button type="button" mat-dialog-close>{{ readOnly ? 'Close' : 'Cancel' }}</button>
        @if (!readOnly) {
          <button mat-flat-button type="submit" [disabled]="saving()" data-testid="role-save">Save</button>
        }
      </mat-dialog-actions>
    </form>
  `,
})
export class RoleDialog {
  private readonly api = inject(RolesApi);
  private readonly ref = inject<MatDialogRef<RoleDialog, Role | true>>(MatDialogRef);
  private readonly data = inject<RoleDialogData>(MAT_DIALOG_DATA);
  protected readonly role = this.data.role;
  protected readonly catalog = this.data.catalog;
  protected readonly readOnly = this.data.readOnly;
  protected readonly form = inject(NonNullableFormBuilder).group({
    name: [{ value: this.role?.name ?? '', disabled: this.readOnly || !!this.role?.builtIn }, [Validators.required, Validators.pattern(/^[\w .-]{1,64}$/)]],
  });
  protected readonly permissions = signal<string[]>([...(this.role?.permissions ?? [])]);
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
      const name = this.form.getRawValue().name;
      const saved = this.role
        ? await this.api.update(this.role.id, { ...(this.role.builtIn ? {} : { name }), permissions: this.permissions() })
        : await this.api.create({ name, permissions: this.permissions() });
      this.ref.close(saved ?? true);
    } catch (e) {
      this.formError.set(applyServerErrors(this.form, toApiError(e)).join(' ') || null);
    } finally {
      this.saving.set(false);
    }
  }
}
