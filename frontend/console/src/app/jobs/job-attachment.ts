import { signal } from '@angular/core';
import { toApiError } from '../core/api-error';
import type { RunningCall } from '../core/realtime';
import { isJob, type Job, type JobOutcome } from './jobs-api';

/** One line of a job's output as it streams (`stream`: stdout, stderr, or notice from the gateway). */
export interface LiveLine {
  stream: string;
  line: string;
}

/** How a job ended, from the `jobs.attach` result (success or failure alike carry it). */
export type AttachedOutcome = JobOutcome & Partial<Job>;

/** Starts a socket call (Realtime.call). */
export type StartCall = (call: string, params: unknown, onLine: (line: string, stream?: string) => void) => RunningCall<unknown>;

/**
 * Follows a running job's output over the `jobs.attach` socket call (issue 14): the output the
 * gateway kept so far, then each new line, until the job ends. Attaching again (after a reconnect)
 * replaces the lines shown with the replay, so nothing is shown twice.
 */
export class JobAttachment {
  readonly lines = signal<LiveLine[]>([]);
  readonly attached = signal(false);
  private call: RunningCall<unknown> | null = null;

  constructor(private readonly start: StartCall) {}

  /** True while a `jobs.attach` call runs. */
  get active(): boolean {
    return this.call !== null;
  }

  /**
   * Attaches to `jobId`. Resolves with the job's outcome once it ends, or null when the attachment
   * ended first (the socket went away, `detach`, the gateway gave up waiting): poll instead, and
   * attach again when the socket is back. Rejects when the caller may not see the job (NOT_FOUND).
   */
  async attach(jobId: string): Promise<AttachedOutcome | null> {
    this.detach();
    this.lines.set([]);
    const call = this.start('jobs.attach', { job_id: jobId }, (line, stream) => {
      if (this.call === call) this.lines.update((l) => [...l, { stream: stream ?? 'stdout', line }]);
    });
    this.call = call;
    this.attached.set(true);
    try {
      const data = await call.result;
      return isJob(data) ? (data as unknown as AttachedOutcome) : null;
    } catch (e) {
      const err = toApiError(e);
      // A job that failed, timed out or was cancelled ends the call as a failure that carries its outcome.
      if (isJob(err.details)) return err.details as unknown as AttachedOutcome;
      if (err.code === 'NOT_FOUND' || err.code === 'FORBIDDEN' || err.code === 'VALIDATION_FAILED') throw err;
      return null;
    } finally {
      if (this.call === call) {
        this.call = null;
        this.attached.set(false);
      }
    }
  }

  /** Stops following (the job runs on). */
  detach(): void {
    const call = this.call;
    this.call = null;
    this.attached.set(false);
    call?.cancel();
  }
}
