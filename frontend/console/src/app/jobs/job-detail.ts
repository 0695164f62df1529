import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject, input, signal, effect, untracked } from '@angular/core';
import { DatePipe } from '@angular/common';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { RouterLink } from '@angular/router';
import { ApiError, toApiError } from '../core/api-error';
import { Auth } from '../core/auth';
import { Realtime } from '../core/realtime';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { StateChip } from '../shared/state-chip';
import { JobAttachment, type AttachedOutcome } from './job-attachment';
import { FINISHED, JobDetailView, JobsApi } from './jobs-api';

const POLL_MS = 1000;
const REATTACH_MS = 3000;

/**
 * One job's page (`/jobs/:id`): reachable from the history after a reload. A job still queued or
 * running is followed over the live channel (`jobs.attach`): the output it printed so far, then each
 * new line, until it ends (issue 14). Without the live channel it is fetched again every second
 * until it ends, so its result appears here.
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
            <h3>Output so far</h3>
            <pre class="output mono" data-testid="job-detail-live-output" [attr.data-attached]="live.attached()">@for (l of live.lines(); track $index) {<span [class]="'line ' + l.stream" data-testid="job-detail-live-line">{{ l.line }}
</span>}</pre>
            @if (!live.attached()) {
              <p class="muted" data-testid="job-detail-waiting">Connecting to the live output; the whole output shows here when the job ends.</p>
            } @else if (live.lines().length === 0) {
              <p class="muted" data-testid="job-detail-no-output">No output yet.</p>
            }
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
    .stderr, .line.stderr { color: #ff8a80; }
    .line.notice { color: #9aa4b2; font-style: italic; }
    h3 { margin: 16px 0 8px; }
  `,
})
export class JobDetail {
  private readonly api = inject(JobsApi);
  private readonly auth = inject(Auth);
  private readonly realtime = inject(Realtime);
  protected readonly live = new JobAttachment((call, params, onLine) => this.realtime.call(call, params, onLine));
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
  private attachAfter = 0;

  constructor() {
    inject(DestroyRef).onDestroy(() => {
      this.destroyed = true;
      clearTimeout(this.timer);
      // Leaving the page only stops following: the job runs on.
      this.live.detach();
    });
    effect(() => {
      this.id();
      untracked(() => {
        this.live.detach();
        this.job.set(null);
        void this.load();
      });
    });
    // Follow a running job whenever the live channel is up (again, after a reconnect).
    effect(() => {
      const connected = this.realtime.connected();
      const j = this.job();
      if (connected && j && !FINISHED.includes(j.status) && !this.live.active && Date.now() >= this.attachAfter) untracked(() => void this.attach(j.id));
    });
  }

  private async attach(id: string): Promise<void> {
    clearTimeout(this.timer);
    try {
      const outcome = await this.live.attach(id);
      if (this.destroyed || id !== this.id()) return;
      if (outcome) this.ended(outcome);
      else {
        // The attachment ended early (disconnect, gateway timeout): poll, and attach again in a while.
        this.attachAfter = Date.now() + REATTACH_MS;
        void this.load();
      }
    } catch (e) {
      if (!this.destroyed && id === this.id()) this.error.set(toApiError(e));
    }
  }

  /** The job ended while followed: show its result at once, then its times from REST. */
  private ended(outcome: AttachedOutcome): void {
    this.job.update((j) => j && {
      ...j,
      status: outcome.status,
      stdout: outcome.stdout ?? j.stdout,
      stderr: outcome.stderr ?? j.stderr,
      exit_code: outcome.exit_code ?? null,
      execution_time_ms: outcome.execution_time_ms ?? null,
    });
    void this.refreshEnded();
  }

  /** GET /jobs/:id until its read model has the end too (it may lag the event by a moment). */
  private async refreshEnded(tries = 5): Promise<void> {
    for (let i = 0; i < tries && !this.destroyed; i++) {
      const job = await this.api.get(this.id()).catch(() => null);
      if (this.destroyed) return;
      if (job && FINISHED.includes(job.status)) {
        this.job.set(job);
        return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  async load(): Promise<void> {
    clearTimeout(this.timer);
    this.error.set(null);
    try {
      const job = await this.api.get(this.id());
      if (this.destroyed) return;
      this.job.set(job);
      if (!FINISHED.includes(job.status) && !this.live.active) this.timer = setTimeout(() => void this.load(), POLL_MS);
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
