import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject, signal, viewChild } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatButtonToggleModule } from '@angular/material/button-toggle';
import { MatCardModule } from '@angular/material/card';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { ApiError, toApiError } from '../core/api-error';
import { Realtime, RunningCall } from '../core/realtime';
import { applyServerErrors, errorText } from '../shared/form-errors';
import { Icon } from '../shared/icon';
import { StateChip } from '../shared/state-chip';
import { JobHistory } from './job-history';
import { FINISHED, Job, JobOutcome, JobRequest, JobsApi, Runtime, isJob, jobFromCall } from './jobs-api';

const SAMPLES: Record<Runtime, string> = {
  python3: 'import sys\n\nname = sys.stdin.read().strip() or "world"\nprint(f"hello, {name}")\n',
  node: "const input = require('fs').readFileSync(0, 'utf8').trim() || 'world';\nconsole.log(`hello, ${input}`);\n",
  bash: 'read -r name\necho "hello, ${name:-world}"\n',
};
const TAB = '    ';
const POLL_MS = 1000;

interface OutputLine {
  stream: string;
  line: string;
}

/** Runs a one-off job in a sandbox, streaming its output, with cancel and a result panel. */
@Component({
  selector: 'adm-job-runner',
  imports: [ReactiveFormsModule, MatCardModule, MatButtonModule, MatButtonToggleModule, MatFormFieldModule, MatInputModule, MatProgressBarModule, Icon, StateChip, JobHistory],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head"><h1>Jobs</h1></header>
    <form [formGroup]="form" (ngSubmit)="run()" data-testid="job-form">
      @if (formError(); as e) {
        <p class="form-error" role="alert">{{ e }}</p>
      }
      <mat-card appearance="outlined" class="section">
        <mat-card-content>
          <div class="toolbar-row">
            <mat-button-toggle-group formControlName="runtime" (change)="switchRuntime($event.value)" aria-label="Runtime" data-testid="job-runtime">
              @for (r of runtimes; track r) {
                <mat-button-toggle [value]="r" [attr.data-testid]="'job-runtime-' + r">{{ r }}</mat-button-toggle>
              }
            </mat-button-toggle-group>
            <span class="spacer"></span>
            <mat-form-field class="small">
              <mat-label>Timeout (ms)</mat-label>
              <input matInput type="number" formControlName="timeout_ms" data-testid="job-timeout" />
              <mat-error>{{ errorText(form.controls.timeout_ms) }}</mat-error>
            </mat-form-field>
            <mat-form-field class="small">
              <mat-label>Memory (MB)</mat-label>
              <input matInput type="number" formControlName="memory_mb" data-testid="job-memory" />
              <mat-error>{{ errorText(form.controls.memory_mb) }}</mat-error>
            </mat-form-field>
          </div>
          <mat-form-field class="full">
            <mat-label>Code</mat-label>
            <textarea matInput formControlName="code" class="code mono" rows="14" spellcheck="false" autocapitalize="off" autocomplete="off"
                      (keydown.tab)="indent($event)" (keydown.shift.tab)="outdent($event)" (keydown.escape)="releaseTab()" (blur)="tabReleased = false"
                      aria-describedby="job-code-keys" data-testid="job-code"></textarea>
            <mat-hint id="job-code-keys">Tab indents; press Esc, then Tab, to leave the editor.</mat-hint>
            <mat-error>{{ errorText(form.controls.code) }}</mat-error>
          </mat-form-field>
          <mat-form-field class="full">
            <mat-label>stdin</mat-label>
            <textarea matInput formControlName="stdin" class="mono" rows="3" spellcheck="false" data-testid="job-stdin"></textarea>
            <mat-error>{{ errorText(form.controls.stdin) }}</mat-error>
          </mat-form-field>
          <div class="form-actions">
            <button mat-stroked-button type="button" (click)="cancel()" [disabled]="!running() || cancelling()" data-testid="job-cancel"><adm-icon name="stop" /> Cancel</button>
            <button mat-flat-button type="submit" [disabled]="running()" data-testid="job-run"><adm-icon name="play" /> Run</button>
          </div>
        </mat-card-content>
      </mat-card>
    </form>
    <mat-card appearance="outlined" class="section">
      <mat-card-header>
        <mat-card-title>Output</mat-card-title>
        <span class="spacer"></span>
        @if (status(); as s) {
          <adm-state-chip data-testid="job-status" [state]="s" />
        }
      </mat-card-header>
      @if (running()) {
        <mat-progress-bar mode="determinate" [value]="progress()" data-testid="job-progress" />
      }
      <mat-card-content>
        <pre class="output mono" data-testid="job-output">@for (l of output(); track $index) {<span [class]="'line ' + l.stream">{{ l.line }}
</span>}</pre>
      </mat-card-content>
    </mat-card>
    @if (result(); as r) {
      <mat-card appearance="outlined" class="section" data-testid="job-result">
        <mat-card-header><mat-card-title>Result</mat-card-title></mat-card-header>
        <mat-card-content>
          <dl class="kv">
            <dt>Status</dt><dd><adm-state-chip [state]="r.status" data-testid="job-result-status" /></dd>
            <dt>Exit code</dt><dd data-testid="job-exit-code">{{ r.exit_code ?? '—' }}</dd>
            <dt>Time</dt><dd data-testid="job-time">{{ r.execution_time_ms ?? '—' }} ms</dd>
          </dl>
          <h3>stdout</h3>
          <pre class="output mono" data-testid="job-stdout">{{ r.stdout }}</pre>
          <h3>stderr</h3>
          <pre class="output mono stderr" data-testid="job-stderr">{{ r.stderr }}</pre>
        </mat-card-content>
      </mat-card>
    }
    @if (runError(); as e) {
      <p class="form-error" role="alert" data-testid="job-error">{{ e.message }} ({{ e.code }})</p>
    }
    <adm-job-history />
  `,
  styles: `
    .small { width: 150px; }
    .code { tab-size: 4; white-space: pre; overflow-x: auto; }
    .output { margin: 0; min-height: 48px; max-height: 360px; overflow: auto; padding: 12px; border-radius: 8px;
      background: #0f1115; color: #d8dee9; font-size: 13px; white-space: pre-wrap; word-break: break-word; }
    .stderr, .line.stderr { color: #ff8a80; }
  `,
})
export class JobRunner {
  private readonly api = inject(JobsApi);
  private readonly realtime = inject(Realtime);
  private readonly fb = inject(NonNullableFormBuilder);

  protected readonly runtimes: Runtime[] = ['python3', 'node', 'bash'];
  protected readonly form = this.fb.group({
    runtime: this.fb.control<Runtime>('python3'),
    // Limits of the gateway's runJobSchema.
    code: [SAMPLES.python3, [Validators.required, Validators.maxLength(1024 * 1024)]],
    stdin: ['', Validators.maxLength(1024 * 1024)],
    timeout_ms: [10_000, [Validators.required, Validators.min(100), Validators.max(15 * 60_000)]],
    memory_mb: [128, [Validators.required, Validators.min(16), Validators.max(16 * 1024)]],
  });
  protected readonly output = signal<OutputLine[]>([]);
  protected readonly result = signal<Job | null>(null);
  protected readonly status = signal<Job['status'] | null>(null);
  protected readonly running = signal(false);
  protected readonly cancelling = signal(false);
  protected readonly runError = signal<ApiError | null>(null);
  protected readonly formError = signal<string | null>(null);
  private readonly startedAt = signal(0);
  private readonly now = signal(0);
  private readonly timeout = signal(1);
  protected readonly progress = computed(() => Math.min(100, ((this.now() - this.startedAt()) / this.timeout()) * 100));
  protected readonly errorText = errorText;
  private readonly history = viewChild(JobHistory);

  private call: RunningCall<unknown> | null = null;
  private restJobId: string | null = null;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private destroyed = false;

  constructor() {
    inject(DestroyRef).onDestroy(() => {
      // Leaving the page does not stop a running job (only Cancel does): it runs on, and the
      // history and its own page (/jobs/:id) show the result.
      this.destroyed = true;
      clearInterval(this.ticker);
    });
  }

  protected switchRuntime(runtime: Runtime): void {
    const code = this.form.controls.code.value;
    // Swap the sample only while the user has not written their own code.
    if (!code.trim() || Object.values(SAMPLES).includes(code)) this.form.controls.code.setValue(SAMPLES[runtime]);
  }

  protected async run(): Promise<void> {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    const v = this.form.getRawValue();
    const request: JobRequest = { runtime: v.runtime, code: v.code, timeout_ms: Number(v.timeout_ms), memory_mb: Number(v.memory_mb), ...(v.stdin ? { stdin: v.stdin } : {}) };
    this.begin(request.timeout_ms);
    try {
      const job = this.realtime.connected() ? await this.runLive(request) : await this.runRest(request);
      this.finish(job);
    } catch (e) {
      const err = toApiError(e);
      if (isJob(err.details)) {
        // A job that failed, timed out or was cancelled still has an outcome and its output.
        this.finish(jobFromCall(err.details as unknown as JobOutcome, this.output(), request.runtime));
      } else {
        const unmatched = err.code === 'VALIDATION_FAILED' ? applyServerErrors(this.form, err) : [];
        this.formError.set(unmatched.join(' ') || null);
        this.runError.set(err);
        this.status.set(null);
      }
    } finally {
      this.stop();
    }
  }

  protected async cancel(): Promise<void> {
    this.cancelling.set(true);
    if (this.call) {
      this.call.cancel();
      return;
    }
    if (this.restJobId) {
      await this.api.cancel(this.restJobId).catch((e: unknown) => this.runError.set(toApiError(e)));
    }
  }

  /** After Esc, the next Tab (or Shift+Tab) moves focus as everywhere else: the editor is no keyboard trap (WCAG 2.1.2). */
  protected tabReleased = false;

  protected releaseTab(): void {
    this.tabReleased = true;
  }

  /** Tab inserts spaces instead of leaving the editor (unless released with Esc). */
  protected indent(event: Event): void {
    if (this.tabReleased) return;
    event.preventDefault();
    const area = event.target as HTMLTextAreaElement;
    const { selectionStart: start, selectionEnd: end, value } = area;
    const lineStart = value.lastIndexOf('\n', start - 1) + 1;
    if (start === end) {
      this.edit(area, value.slice(0, start) + TAB + value.slice(end), start + TAB.length, start + TAB.length);
      return;
    }
    const block = value.slice(lineStart, end).replace(/^/gm, TAB);
    this.edit(area, value.slice(0, lineStart) + block + value.slice(end), start + TAB.length, lineStart + block.length);
  }

  protected outdent(event: Event): void {
    if (this.tabReleased) return;
    event.preventDefault();
    const area = event.target as HTMLTextAreaElement;
    const { selectionStart: start, selectionEnd: end, value } = area;
    const lineStart = value.lastIndexOf('\n', start - 1) + 1;
    const block = value.slice(lineStart, end).replace(/^( {1,4}|\t)/gm, '');
    const removedFirst = value.slice(lineStart, end).length - value.slice(lineStart, end).replace(/^( {1,4}|\t)/, '').length;
    this.edit(area, value.slice(0, lineStart) + block + value.slice(end), Math.max(lineStart, start - removedFirst), lineStart + block.length);
  }

  private edit(area: HTMLTextAreaElement, value: string, selStart: number, selEnd: number): void {
    this.form.controls.code.setValue(value);
    area.value = value;
    area.setSelectionRange(selStart, selEnd);
  }

  private async runLive(request: JobRequest): Promise<Job> {
    this.call = this.realtime.call<unknown>('jobs.run', request, (line, stream) =>
      this.output.update((o) => [...o, { stream: stream ?? 'stdout', line }]),
    );
    const data = await this.call.result;
    if (!isJob(data)) throw toApiError({ error: 'The job finished without a result', code: 'BAD_RESPONSE' });
    return jobFromCall(data as unknown as JobOutcome, this.output(), request.runtime);
  }

  /** Without the live channel: create the job over REST and poll it until it finishes. */
  private async runRest(request: JobRequest): Promise<Job> {
    let job = await this.api.run(request);
    this.restJobId = job.id;
    this.status.set(job.status);
    while (!FINISHED.includes(job.status) && !this.destroyed) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      job = await this.api.get(job.id);
      this.status.set(job.status);
    }
    const lines = [
      ...(job.stdout ?? '').split('\n').filter(Boolean).map((line) => ({ stream: 'stdout', line })),
      ...(job.stderr ?? '').split('\n').filter(Boolean).map((line) => ({ stream: 'stderr', line })),
    ];
    this.output.set(lines);
    return job;
  }

  private begin(timeoutMs: number): void {
    this.output.set([]);
    this.result.set(null);
    this.runError.set(null);
    this.formError.set(null);
    this.status.set('running');
    this.running.set(true);
    this.cancelling.set(false);
    this.timeout.set(Math.max(1, timeoutMs));
    this.startedAt.set(Date.now());
    this.now.set(Date.now());
    clearInterval(this.ticker);
    this.ticker = setInterval(() => this.now.set(Date.now()), 200);
  }

  private finish(job: Job): void {
    this.result.set(job);
    this.status.set(job.status);
    this.history()?.reload();
  }

  private stop(): void {
    clearInterval(this.ticker);
    this.call = null;
    this.restJobId = null;
    this.running.set(false);
    this.cancelling.set(false);
  }
}
