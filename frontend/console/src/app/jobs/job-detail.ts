import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject, input, signal, effect } from '@angular/core';
import { DatePipe } from '@angular/common';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { RouterLink } from '@angular/router';
import { ApiError, toApiError } from '../core/api-error';
import { Auth } from '../core/auth';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { StateChip } from '../shared/state-chip';
import { FINISHED, JobDetailView, JobsApi } from './jobs-api';

const POLL_MS = 1000;

/**
 * One job's page (`/jobs/:id`): reachable from the history after a reload. A job still queued or
 * running is fetched again every second until it ends, so its result appears here.
 */
@Component({
  selector: 'adm-job-detail',
  imports: [MatCardModule, MatButtonModule, MatProgressBarModule, RouterLink, DatePipe, Icon, Notice, StateChip],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head">
      <a mat-icon-button routerLink="/jobs" aria-label="Back to jobs" data-testid="job-back"><adm-icon name="back" /></a>
      <h1>Job</h1>
    </header>
    @if (error(); as e) {
      <adm-notice [error]="e" (retry)="load()" />
    } @else if (job(); as j) {
      <mat-card appearance="outlined" class="section" data-testid="job-detail">
        <mat-card-header>
          <mat-card-title>{{ j.runtime }} job</mat-card-title>
          <span class="spacer"></span>
          <adm-state-chip [state]="j.status" data-testid="job-detail-status" />
        </mat-card-header>
        @if (!finished()) {
          <mat-progress-bar mode="indeterminate" data-testid="job-detail-progress" />
        }
        <mat-card-content>
          <dl class="kv">
            <dt>Started</dt><dd>{{ j.createdAt | date: 'medium' }}</dd>
            <dt>Finished</dt><dd>{{ j.finishedAt ? (j.finishedAt | date: 'medium') : '—' }}</dd>
            <dt>Exit code</dt><dd data-testid="job-detail-exit-code">{{ j.exit_code ?? '—' }}</dd>
            <dt>Time</dt><dd>{{ j.execution_time_ms === null ? '—' : j.execution_time_ms + ' ms' }}</dd>
          </dl>
          @if (!finished()) {
            <p class="muted">The output shows here when the job ends.</p>
            @if (canCancel()) {
              <button mat-stroked-button type="button" (click)="cancel()" [disabled]="cancelling()" data-testid="job-detail-cancel"><adm-icon name="stop" /> Cancel</button>
            }
          } @else {
            <h3>stdout</h3>
            <pre class="output mono" data-testid="job-detail-stdout">{{ j.stdout }}</pre>
            <h3>stderr</h3>
            <pre class="output mono stderr" data-testid="job-detail-stderr">{{ j.stderr }}</pre>
          }
        </mat-card-content>
      </mat-card>
    } @else {
      <mat-progress-bar mode="indeterminate" />
    }
  `,
  styles: `
    .output { margin: 0; min-height: 32px; max-height: 480px; overflow: auto; padding: 12px; border-radius: 8px;
      background: #0f1115; color: #d8dee9; font-size: 13px; white-space: pre-wrap; word-break: break-word; }
    .stderr { color: #ff8a80; }
  `,
})
export class JobDetail {
  private readonly api = inject(JobsApi);
  private readonly auth = inject(Auth);
  readonly id = input.required<string>();
  protected readonly job = signal<JobDetailView | null>(null);
  protected readonly error = signal<ApiError | null>(null);
  protected readonly cancelling = signal(false);
  protected readonly finished = computed(() => {
    const j = this.job();
    return !!j && FINISHED.includes(j.status);
  });
  protected readonly canCancel = computed(() => {
    const j = this.job();
    return !!j && (j.owner_id === this.auth.me()?.user.id || this.auth.can('nodes.manage'));
  });
  private timer: ReturnType<typeof setTimeout> | undefined;
  private destroyed = false;

  constructor() {
    inject(DestroyRef).onDestroy(() => {
      this.destroyed = true;
      clearTimeout(this.timer);
    });
    effect(() => {
      this.id();
      this.job.set(null);
      void this.load();
    });
  }

  async load(): Promise<void> {
    clearTimeout(this.timer);
    this.error.set(null);
    try {
      const job = await this.api.get(this.id());
      if (this.destroyed) return;
      this.job.set(job);
      if (!FINISHED.includes(job.status)) this.timer = setTimeout(() => void this.load(), POLL_MS);
    } catch (e) {
      if (!this.destroyed) this.error.set(toApiError(e));
    }
  }

  protected async cancel(): Promise<void> {
    this.cancelling.set(true);
    try {
      await this.api.cancel(this.id());
      await this.load();
    } catch (e) {
      this.error.set(toApiError(e));
    } finally {
      this.cancelling.set(false);
    }
  }
}
