import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject, signal, type WritableSignal } from '@angular/core';
import { DatePipe } from '@angular/common';
import { HttpClient } from '@angular/common/http';
import { AbstractControl, NonNullableFormBuilder, ReactiveFormsModule, ValidationErrors, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatDialog } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatSlideToggleModule } from '@angular/material/slide-toggle';
import { MatSnackBar } from '@angular/material/snack-bar';
import { firstValueFrom } from 'rxjs';
import { ApiError, toApiError } from '../core/api-error';
import { Auth } from '../core/auth';
import { ApiKeyDialog, ApiKeyDialogData } from '../admin/api-key-dialog';
import { ApiKey, ApiKeysApi, IssuedKey } from '../admin/api-keys-api';
import { Avatar } from '../admin/avatar';
import { RolesApi } from '../admin/roles-api';
import { confirmAction } from '../shared/confirm';
import { applyServerErrors, errorText } from '../shared/form-errors';
import { Notice } from '../shared/notice';
import { Pager } from '../shared/pager';

/** An SSH key as `GET /users/me/ssh-keys` lists it. */
interface SshKey {
  id: string;
  name: string;
  algorithm: string;
  fingerprint: string;
  created_at: string;
}

/** What the profile picture may be (the gateway refuses anything else, GIF included). */
const PICTURE_TYPES = 'image/png,image/jpeg,image/webp';

const sameAs = (other: () => string) => (c: AbstractControl): ValidationErrors | null => (c.value === other() ? null : { mismatch: 'The two passwords differ' });

/**
 * The signed-in user's own settings: picture, password (with the current one), email two-step
 * sign-in, SSH keys for SFTP and their own API keys. What an API key may not change (credentials,
 * two-step) the gateway refuses to keys; this page is for people.
 */
@Component({
  selector: 'adm-account',
  imports: [ReactiveFormsModule, MatCardModule, MatButtonModule, MatFormFieldModule, MatInputModule, MatSlideToggleModule, DatePipe, Avatar, Notice, Pager],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head"><h1>My account</h1></header>
    @if (me(); as m) {
      <mat-card appearance="outlined" class="section" data-testid="account-profile">
        <mat-card-header><mat-card-title>Profile</mat-card-title></mat-card-header>
        <mat-card-content>
          <div class="toolbar-row profile">
            <adm-avatar [userId]="m.user.id" [name]="m.user.name" [size]="64" [revision]="pictureRevision()" [hasPicture]="pictureRevision() > 0 || !!m.user['hasPicture']" />
            <div>
              <div data-testid="account-name">{{ m.user.name }}</div>
              <div class="muted" data-testid="account-email">{{ m.user.email }}</div>
              <div class="muted">{{ roleNames() }}</div>
            </div>
            <span class="spacer"></span>
            <label class="mat-mdc-button-base upload">
              <input type="file" [accept]="pictureTypes" (change)="uploadPicture($event)" data-testid="account-picture" hidden />
              <span mat-stroked-button>Change picture</span>
            </label>
          </div>
          @if (pictureError(); as e) { <p class="form-error" role="alert" data-testid="account-picture-error">{{ e }}</p> }
        </mat-card-content>
      </mat-card>

      <mat-card appearance="outlined" class="section" data-testid="account-password">
        <mat-card-header><mat-card-title>Password</mat-card-title></mat-card-header>
        <mat-card-content>
          <form [formGroup]="password" (ngSubmit)="changePassword()">
            @if (passwordError(); as e) { <p class="form-error" role="alert" data-testid="account-password-error">{{ e }}</p> }
            <div class="toolbar-row">
              <mat-form-field><mat-label>Current password</mat-label><input matInput type="password" autocomplete="current-password" formControlName="current_password" data-testid="account-current-password" /><mat-error>{{ errorText(password.controls.current_password) }}</mat-error></mat-form-field>
              <mat-form-field><mat-label>New password</mat-label><input matInput type="password" autocomplete="new-password" formControlName="password" data-testid="account-new-password" /><mat-error>{{ errorText(password.controls.password) }}</mat-error></mat-form-field>
              <mat-form-field><mat-label>New password again</mat-label><input matInput type="password" autocomplete="new-password" formControlName="again" data-testid="account-new-password-again" /><mat-error>{{ errorText(password.controls.again) }}</mat-error></mat-form-field>
            </div>
            <p class="hint">Changing it signs out every other session.</p>
            <div class="form-actions"><button mat-flat-button type="submit" [disabled]="busy()" data-testid="account-password-save">Change password</button></div>
          </form>
        </mat-card-content>
      </mat-card>

      <mat-card appearance="outlined" class="section" data-testid="account-otp">
        <mat-card-header><mat-card-title>Two-step sign-in</mat-card-title></mat-card-header>
        <mat-card-content>
          <p>A one-time code sent by email after the password. It is {{ otpEnabled() ? 'on' : 'off' }}.</p>
          <div class="toolbar-row">
            <mat-form-field><mat-label>Current password</mat-label><input matInput type="password" autocomplete="current-password" #otpPassword data-testid="account-otp-password" /></mat-form-field>
            <button mat-stroked-button type="button" (click)="setOtp(!otpEnabled(), otpPassword.value); otpPassword.value = ''" [disabled]="busy()" data-testid="account-otp-toggle">{{ otpEnabled() ? 'Turn off' : 'Turn on' }}</button>
          </div>
          @if (otpError(); as e) { <p class="form-error" role="alert" data-testid="account-otp-error">{{ e }}</p> }
        </mat-card-content>
      </mat-card>

      <mat-card appearance="outlined" class="section" data-testid="account-ssh-keys">
        <mat-card-header><mat-card-title>SSH keys (SFTP)</mat-card-title></mat-card-header>
        <mat-card-content>
          @for (k of sshKeys(); track k.id) {
            <div class="toolbar-row key" data-testid="account-ssh-key">
              <span><strong>{{ k.name }}</strong> · {{ k.algorithm }} · <code>{{ k.fingerprint }}</code> · added {{ k.created_at | date: 'mediumDate' }}</span>
              <span class="spacer"></span>
              <button mat-button class="danger" type="button" (click)="removeSshKey(k)" data-testid="account-ssh-key-delete">Delete</button>
            </div>
          } @empty {
            <p class="muted">No SSH keys yet: SFTP asks for your password.</p>
          }
          <form [formGroup]="sshKey" (ngSubmit)="addSshKey()">
            @if (sshError(); as e) { <p class="form-error" role="alert" data-testid="account-ssh-error">{{ e }}</p> }
            <div class="toolbar-row">
              <mat-form-field><mat-label>Name</mat-label><input matInput formControlName="name" data-testid="account-ssh-name" /><mat-error>{{ errorText(sshKey.controls.name) }}</mat-error></mat-form-field>
              <mat-form-field class="grow"><mat-label>Public key (ssh-ed25519 AAAA… or ssh-rsa AAAA…)</mat-label><input matInput class="mono" formControlName="public_key" spellcheck="false" data-testid="account-ssh-key-input" /><mat-error>{{ errorText(sshKey.controls.public_key) }}</mat-error></mat-form-field>
              <button mat-stroked-button type="submit" [disabled]="busy()" data-testid="account-ssh-add">Add key</button>
            </div>
          </form>
        </mat-card-content>
      </mat-card>

      <mat-card appearance="outlined" class="section" data-testid="account-api-keys">
        <mat-card-header>
          <mat-card-title>My API keys</mat-card-title>
          <span class="spacer"></span>
          <button mat-stroked-button type="button" (click)="issueKey()" data-testid="account-api-key-new">New API key</button>
        </mat-card-header>
        <mat-card-content>
          @if (keys.error() || keys.empty()) {
            <adm-notice [error]="keys.error()" (retry)="keys.reload()">No API keys.</adm-notice>
          } @else {
            @for (k of ownKeys(); track k.id) {
              <div class="toolbar-row key" data-testid="account-api-key">
                <span><strong>{{ k.name }}</strong> · {{ k.permissions.length }} permissions · created {{ k.createdAt | date: 'mediumDate' }}{{ k.revokedAt ? ' · revoked' : '' }}</span>
                <span class="spacer"></span>
                @if (!k.revokedAt) {
                  <button mat-button class="danger" type="button" (click)="revokeKey(k)" data-testid="account-api-key-revoke">Revoke</button>
                }
              </div>
            }
            <adm-pager [list]="keys" />
          }
        </mat-card-content>
      </mat-card>
    }
  `,
  styles: `
    .profile { align-items: center; gap: 16px; }
    .grow { flex: 1; min-width: 320px; }
    .key { align-items: center; border-bottom: 1px solid var(--mat-sys-outline-variant); padding: 4px 0; }
    .upload { cursor: pointer; }
  `,
})
export class Account {
  private readonly auth = inject(Auth);
  private readonly http = inject(HttpClient);
  private readonly dialog = inject(MatDialog);
  private readonly snack = inject(MatSnackBar);
  private readonly keysApi = inject(ApiKeysApi);
  private readonly roles = inject(RolesApi);
  private readonly fb = inject(NonNullableFormBuilder);
  protected readonly me = this.auth.me;
  protected readonly roleNames = computed(() => (this.me()?.roles ?? []).map((r) => r.name).join(', '));
  protected readonly otpEnabled = signal(false);
  protected readonly busy = signal(false);
  protected readonly pictureRevision = signal(0);
  protected readonly pictureError = signal<string | null>(null);
  protected readonly passwordError = signal<string | null>(null);
  protected readonly otpError = signal<string | null>(null);
  protected readonly sshError = signal<string | null>(null);
  protected readonly sshKeys = signal<SshKey[]>([]);
  protected readonly keys = this.keysApi.keys();
  /** With apikeys.manage the list holds everyone's keys; this page shows the user's own. */
  protected readonly ownKeys = computed(() => this.keys.items().filter((k) => !(k as ApiKey & { ownerId?: string }).ownerId || (k as ApiKey & { ownerId?: string }).ownerId === this.me()?.user.id));
  protected readonly pictureTypes = PICTURE_TYPES;
  protected readonly errorText = errorText;
  protected readonly password = this.fb.group({
    current_password: ['', Validators.required],
    password: ['', [Validators.required, Validators.minLength(8), Validators.maxLength(256)]],
    again: ['', Validators.required],
  });
  protected readonly sshKey = this.fb.group({
    name: ['', [Validators.required, Validators.maxLength(64)]],
    public_key: ['', [Validators.required, Validators.maxLength(16_384)]],
  });

  constructor() {
    this.password.controls.again.addValidators(sameAs(() => this.password.controls.password.value));
    inject(DestroyRef).onDestroy(() => this.keys.destroy());
    this.keys.first();
    void this.loadSelf();
    void this.loadSshKeys();
  }

  private async loadSelf(): Promise<void> {
    const self = await firstValueFrom(this.http.get<{ otpEnabled?: boolean }>('/api/v1/users/me')).catch(() => null);
    this.otpEnabled.set(!!self?.otpEnabled);
  }

  private async loadSshKeys(): Promise<void> {
    this.sshKeys.set(await firstValueFrom(this.http.get<SshKey[]>('/api/v1/users/me/ssh-keys')).catch(() => []));
  }

  protected async uploadPicture(event: Event): Promise<void> {
    const input = event.target as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (!file) return;
    this.pictureError.set(null);
    if (!PICTURE_TYPES.split(',').includes(file.type)) {
      this.pictureError.set('Choose a PNG, JPEG or WebP picture.');
      return;
    }
    const body = new FormData();
    body.append('file', file, file.name);
    try {
      await firstValueFrom(this.http.put('/api/v1/users/me/pfp', body));
      this.pictureRevision.update((r) => r + 1);
    } catch (e) {
      this.pictureError.set(toApiError(e).message);
    }
  }

  protected async changePassword(): Promise<void> {
    if (this.password.invalid) {
      this.password.markAllAsTouched();
      return;
    }
    const v = this.password.getRawValue();
    await this.run(this.passwordError, async () => {
      await firstValueFrom(this.http.patch('/api/v1/users/me', { password: v.password, current_password: v.current_password }));
      this.password.reset();
      this.snack.open('Password changed; other sessions are signed out', undefined, { duration: 4000 });
    }, (err) => (err.code === 'VALIDATION_FAILED' ? applyServerErrors(this.password, err) : []));
  }

  protected async setOtp(on: boolean, currentPassword: string): Promise<void> {
    if (!currentPassword) {
      this.otpError.set('Enter your current password.');
      return;
    }
    await this.run(this.otpError, async () => {
      await firstValueFrom(this.http.patch('/api/v1/users/me', { otpEnabled: on, current_password: currentPassword }));
      this.otpEnabled.set(on);
      this.snack.open(on ? 'Two-step sign-in is on' : 'Two-step sign-in is off', undefined, { duration: 3000 });
    });
  }

  protected async addSshKey(): Promise<void> {
    if (this.sshKey.invalid) {
      this.sshKey.markAllAsTouched();
      return;
    }
    await this.run(this.sshError, async () => {
      await firstValueFrom(this.http.post('/api/v1/users/me/ssh-keys', this.sshKey.getRawValue()));
      this.sshKey.reset();
      await this.loadSshKeys();
    }, (err) => (err.code === 'VALIDATION_FAILED' || err.code === 'UNPROCESSABLE' ? applyServerErrors(this.sshKey, err) : []));
  }

  protected async removeSshKey(key: SshKey): Promise<void> {
    if (!(await confirmAction(this.dialog, { title: `Delete ${key.name}?`, message: 'SFTP logins with this key stop working.', action: 'Delete' }))) return;
    await this.run(this.sshError, async () => {
      await firstValueFrom(this.http.delete(`/api/v1/users/me/ssh-keys/${encodeURIComponent(key.id)}`));
      await this.loadSshKeys();
    });
  }

  protected async issueKey(): Promise<void> {
    const all = await this.roles.permissions().catch(() => []);
    const mine = this.auth.permissions();
    const data: ApiKeyDialogData = { catalog: all.filter((p) => mine.has(p.name)), accounts: [] };
    const ref = this.dialog.open<ApiKeyDialog, ApiKeyDialogData, IssuedKey>(ApiKeyDialog, { data, width: '760px', maxWidth: '95vw' });
    if (await firstValueFrom(ref.afterClosed())) this.keys.first();
  }

  protected async revokeKey(key: ApiKey): Promise<void> {
    if (!(await confirmAction(this.dialog, { title: `Revoke ${key.name}?`, message: 'Anything using this key loses access at once.', action: 'Revoke' }))) return;
    try {
      await this.keysApi.revoke(key.id);
      this.keys.reload();
    } catch (e) {
      this.snack.open(toApiError(e).message, 'Dismiss', { duration: 6000 });
    }
  }

  /** Runs `work`; a failure shows in `target` (field errors go to their fields when `fields` places them). */
  private async run(target: WritableSignal<string | null>, work: () => Promise<void>, fields: (err: ApiError) => string[] = () => []): Promise<void> {
    target.set(null);
    this.busy.set(true);
    try {
      await work();
    } catch (e) {
      const err = toApiError(e);
      const unmatched = fields(err);
      target.set(unmatched.join(' ') || err.message);
    } finally {
      this.busy.set(false);
    }
  }
}
