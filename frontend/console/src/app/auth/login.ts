import { ChangeDetectionStrategy, Component, inject, input, signal } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { Router } from '@angular/router';
import { toApiError } from '../core/api-error';
import { Auth } from '../core/auth';
import { applyServerErrors, errorText } from '../shared/form-errors';

/** Sign in with email or username and password, then a one-time code when the server asks for one. */
@Component({
  selector: 'adm-login',
  imports: [ReactiveFormsModule, MatCardModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatProgressBarModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <mat-card class="login-card" appearance="outlined">
      @if (busy()) {
        <mat-progress-bar mode="indeterminate" />
      }
      <mat-card-header>
        <img mat-card-avatar src="favicon.svg" alt="" />
        <mat-card-title>Encedeus</mat-card-title>
        <mat-card-subtitle>{{ otpEmail() ? 'Enter the code we emailed you' : 'Sign in to the console' }}</mat-card-subtitle>
      </mat-card-header>
      <mat-card-content>
        @if (error(); as e) {
          <p class="form-error" role="alert" data-testid="login-error">{{ e }}</p>
        }
        @if (otpEmail()) {
          <form [formGroup]="otp" (ngSubmit)="verify()" data-testid="otp-form">
            <p class="hint" data-testid="otp-message">{{ otpMessage() }}</p>
            <mat-form-field class="full">
              <mat-label>6-digit code</mat-label>
              <input matInput formControlName="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6" data-testid="login-otp" />
              <mat-error>{{ errorText(otp.controls.code) }}</mat-error>
            </mat-form-field>
            <div class="actions">
              <button mat-button type="button" (click)="restart()">Back</button>
              <button mat-flat-button type="submit" [disabled]="busy()" data-testid="login-verify">Verify</button>
            </div>
          </form>
        } @else {
          <form [formGroup]="form" (ngSubmit)="signIn()" data-testid="login-form">
            <mat-form-field class="full">
              <mat-label>Email or username</mat-label>
              <input matInput formControlName="identifier" autocomplete="username" data-testid="login-identifier" />
              <mat-error>{{ errorText(form.controls.identifier) }}</mat-error>
            </mat-form-field>
            <mat-form-field class="full">
              <mat-label>Password</mat-label>
              <input matInput type="password" formControlName="password" autocomplete="current-password" data-testid="login-password" />
              <mat-error>{{ errorText(form.controls.password) }}</mat-error>
            </mat-form-field>
            <div class="actions">
              <button mat-flat-button type="submit" [disabled]="busy()" data-testid="login-submit">Sign in</button>
            </div>
          </form>
        }
      </mat-card-content>
    </mat-card>
  `,
  styles: `
    :host { display: grid; place-items: center; min-height: 100vh; padding: 16px; background: var(--mat-sys-surface-container-low); }
    .login-card { width: min(400px, 100%); overflow: hidden; }
    mat-card-content { padding-top: 16px; }
    .full { width: 100%; margin-bottom: 12px; }
    .actions { display: flex; justify-content: flex-end; gap: 8px; }
  `,
})
export class Login {
  private readonly auth = inject(Auth);
  private readonly router = inject(Router);
  private readonly fb = inject(NonNullableFormBuilder);
  /** Where to go after signing in (set by the guards). */
  readonly returnUrl = input<string>();

  protected readonly form = this.fb.group({
    identifier: ['', Validators.required],
    password: ['', Validators.required],
  });
  protected readonly otp = this.fb.group({
    code: ['', [Validators.required, Validators.pattern(/^\d{6}$/)]],
  });
  protected readonly busy = signal(false);
  protected readonly error = signal<string | null>(null);
  protected readonly otpEmail = signal<string | null>(null);
  protected readonly otpMessage = signal('');
  protected readonly errorText = errorText;

  protected async signIn(): Promise<void> {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    const { identifier, password } = this.form.getRawValue();
    await this.attempt(async () => {
      const outcome = await this.auth.login(identifier, password);
      if (outcome.kind === 'otp') {
        this.otpMessage.set(outcome.message);
        this.otpEmail.set(outcome.email);
        return;
      }
      await this.enter();
    }, this.form);
  }

  protected async verify(): Promise<void> {
    const email = this.otpEmail();
    if (this.otp.invalid || !email) {
      this.otp.markAllAsTouched();
      return;
    }
    await this.attempt(async () => {
      await this.auth.verify(email, this.otp.getRawValue().code);
      await this.enter();
    }, this.otp);
  }

  protected restart(): void {
    this.otpEmail.set(null);
    this.otp.reset();
    this.error.set(null);
  }

  private async attempt(work: () => Promise<void>, form: typeof this.form | typeof this.otp): Promise<void> {
    this.busy.set(true);
    this.error.set(null);
    try {
      await work();
    } catch (e) {
      const err = toApiError(e);
      const unmatched = applyServerErrors(form, err);
      this.error.set(unmatched.join(' '));
    } finally {
      this.busy.set(false);
    }
  }

  private async enter(): Promise<void> {
    const target = this.returnUrl();
    await this.router.navigateByUrl(target && target.startsWith('/') && !target.startsWith('//') ? target : '/dashboard');
  }
}
