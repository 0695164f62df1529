import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import { toSignal } from '@angular/core/rxjs-interop';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialog, MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSelectModule } from '@angular/material/select';
import { MatSlideToggleModule } from '@angular/material/slide-toggle';
import { toApiError, readableMessage } from '../core/api-error';
import { Auth } from '../core/auth';
import { confirmAction } from '../shared/confirm';
import { applyServerErrors, errorText } from '../shared/form-errors';
import { Icon } from '../shared/icon';
import { Avatar } from './avatar';
import { Role } from './roles-api';
import { User, UserPatch, UsersApi } from './users-api';
import { disableConfirmation, needsCurrentPassword } from './user-rules';

/** What the user dialog edits: an existing user, or none to create one. */
export interface UserDialogData {
  user: User | null;
  roles: Role[];
}

const MAX_PICTURE_BYTES = 5 * 1024 * 1024;

/** Creates a user, or edits name, email, password, role, disabled and profile picture. */
@Component({
  selector: 'adm-user-dialog',
  imports: [ReactiveFormsModule, MatDialogModule, MatFormFieldModule, MatInputModule, MatSelectModule, MatSlideToggleModule, MatButtonModule, MatProgressBarModule, Icon, Avatar],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>{{ user ? 'Edit ' + user.name : 'New user' }}</h2>
    @if (saving()) {
      <mat-progress-bar mode="indeterminate" />
    }
    <form [formGroup]="form" (ngSubmit)="save()" data-testid="user-form">
      <mat-dialog-content>
        @if (formError(); as e) {
          <p class="form-error" role="alert">{{ e }}</p>
        }
        @if (user) {
          <div class="picture">
            <adm-avatar [userId]="user.id" [name]="user.name" [size]="64" [hasPicture]="user.hasPicture ?? true" [revision]="pictureRevision()" />
            <div class="spacer">
              <button mat-stroked-button type="button" (click)="picker.click()" [disabled]="uploading() !== null" data-testid="pfp-upload">
                <adm-icon name="upload" /> Upload picture
              </button>
              <input #picker type="file" accept="image/png,image/jpeg,image/webp" hidden (change)="upload(picker)" data-testid="pfp-file" />
              @if (uploading() !== null) {
                <mat-progress-bar mode="determinate" [value]="uploading()" data-testid="pfp-progress" />
              }
              @if (pictureError(); as e) {
                <p class="error-text">{{ e }}</p>
              }
            </div>
          </div>
        }
        <mat-form-field class="full">
          <mat-label>Name</mat-label>
          <input matInput formControlName="name" autocomplete="off" data-testid="user-name" />
          <mat-error>{{ errorText(form.controls.name) }}</mat-error>
        </mat-form-field>
        <mat-form-field class="full">
          <mat-label>Email</mat-label>
          <input matInput type="email" formControlName="email" autocomplete="off" data-testid="user-email" />
          <mat-error>{{ errorText(form.controls.email) }}</mat-error>
        </mat-form-field>
        <mat-form-field class="full">
          <mat-label>{{ user ? 'New password (leave empty to keep)' : 'Password' }}</mat-label>
          <input matInput type="password" formControlName="password" autocomplete="new-password" data-testid="user-password" />
          <mat-error>{{ errorText(form.controls.password) }}</mat-error>
        </mat-form-field>
        @if (askCurrentPassword()) {
          <mat-form-field class="full">
            <mat-label>Your current password</mat-label>
            <input matInput type="password" formControlName="current_password" autocomplete="current-password" data-testid="user-current-password" />
            <mat-hint>Needed to change your own email or password.</mat-hint>
            <mat-error>{{ errorText(form.controls.current_password) }}</mat-error>
          </mat-form-field>
        }
        <mat-form-field class="full">
          <mat-label>Role</mat-label>
          <mat-select formControlName="role_id" data-testid="user-role">
            @for (r of roles; track r.id) {
              <mat-option [value]="r.id">{{ r.name }}</mat-option>
            }
          </mat-select>
          <mat-error>{{ errorText(form.controls.role_id) }}</mat-error>
        </mat-form-field>
        @if (user) {
          <mat-slide-toggle formControlName="disabled" data-testid="user-disabled">Disabled (cannot sign in)</mat-slide-toggle>
        }
      </mat-dialog-content>
      <mat-dialog-actions align="end">
        <button mat-button type="button" mat-dialog-close>Cancel</button>
        <button mat-flat-button type="submit" [disabled]="saving()" data-testid="user-save">{{ user ? 'Save' : 'Create' }}</button>
      </mat-dialog-actions>
    </form>
  `,
  styles: `
    .picture { display: flex; gap: 16px; align-items: center; margin-bottom: 16px; }
    .error-text { color: var(--mat-sys-error); margin: 4px 0 0; font-size: 13px; }
    mat-slide-toggle { margin: 8px 0; }
  `,
})
export class UserDialog {
  private readonly api = inject(UsersApi);
  private readonly ref = inject<MatDialogRef<UserDialog, User | true>>(MatDialogRef);
  private readonly dialog = inject(MatDialog);
  private readonly data = inject<UserDialogData>(MAT_DIALOG_DATA);
  protected readonly user = this.data.user;
  protected readonly roles = this.data.roles;
  protected readonly form = inject(NonNullableFormBuilder).group({
    name: [this.user?.name ?? '', [Validators.required, Validators.maxLength(64)]],
    email: [this.user?.email ?? '', [Validators.required, Validators.email]],
    password: ['', this.user ? [Validators.minLength(8)] : [Validators.required, Validators.minLength(8)]],
    role_id: [this.user?.roles?.[0]?.id ?? this.roles.find((r) => r.name === 'user')?.id ?? '', this.user ? [] : [Validators.required]],
    disabled: [this.user?.disabled ?? false],
    current_password: [''],
  });
  /** Editing yourself: changing your own email or password asks for your current password (the API requires it). */
  private readonly self = !!this.user && this.user.id === inject(Auth).me()?.user.id;
  private readonly formValue = toSignal(this.form.valueChanges, { initialValue: this.form.getRawValue() });
  protected readonly askCurrentPassword = computed(() => this.self && !!this.user && needsCurrentPassword(this.user, this.formValue()));
  protected readonly saving = signal(false);
  protected readonly formError = signal<string | null>(null);
  protected readonly uploading = signal<number | null>(null);
  protected readonly pictureError = signal<string | null>(null);
  protected readonly pictureRevision = signal(0);
  protected readonly errorText = errorText;

  protected async save(): Promise<void> {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    const v = this.form.getRawValue();
    if (this.askCurrentPassword() && !v.current_password) {
      this.form.controls.current_password.setErrors({ required: true });
      this.form.controls.current_password.markAsTouched();
      return;
    }
    // Disabling signs the user out everywhere and stops their API keys: ask first (issue 14).
    if (this.user && v.disabled && !this.user.disabled) {
      if (!(await confirmAction(this.dialog, disableConfirmation(this.user)))) return;
    }
    this.saving.set(true);
    this.formError.set(null);
    try {
      const saved = this.user
        ? await this.api.update(this.user.id, this.changes(this.user, v))
        : await this.api.create({ name: v.name, email: v.email, password: v.password, role_id: v.role_id });
      this.ref.close(saved ?? true);
    } catch (e) {
      this.formError.set(applyServerErrors(this.form, toApiError(e)).join(' ') || null);
    } finally {
      this.saving.set(false);
    }
  }

  protected upload(input: HTMLInputElement): void {
    const file = input.files?.[0];
    input.value = '';
    if (!file || !this.user) return;
    if (!file.type.startsWith('image/')) return this.pictureError.set('Choose an image file.');
    if (file.size > MAX_PICTURE_BYTES) return this.pictureError.set('The image must be at most 5 MB.');
    this.pictureError.set(null);
    this.uploading.set(0);
    this.api.uploadPicture(this.user.id, file).subscribe({
      next: (p) => {
        this.uploading.set(p.percent);
        if (p.done) {
          this.uploading.set(null);
          this.pictureRevision.update((n) => n + 1);
        }
      },
      error: (e: unknown) => {
        this.uploading.set(null);
        const err = toApiError(e);
        this.pictureError.set(readableMessage(err));
      },
    });
  }

  /** Only what changed goes into the PATCH. */
  private changes(user: User, v: ReturnType<typeof this.form.getRawValue>): UserPatch {
    const patch: UserPatch = {};
    if (v.name !== user.name) patch.name = v.name;
    if (v.email !== user.email) patch.email = v.email;
    if (v.password) patch.password = v.password;
    if (v.disabled !== user.disabled) patch.disabled = v.disabled;
    if (v.role_id && v.role_id !== user.roles?.[0]?.id) patch.role_id = v.role_id;
    if (this.askCurrentPassword()) patch.current_password = v.current_password;
    return patch;
  }
}
