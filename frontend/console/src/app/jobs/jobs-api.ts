import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom, map } from 'rxjs';
import { PagedList, asPage, type Page } from '../shared/paged-list';

/** Interpreters a job can run in. */
export type Runtime = 'python3' | 'node' | 'bash';

/** Where a job is in its life. */
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'timeout' | 'killed' | 'cancelled';

/** What to run (the `jobs.run` params and the `POST /jobs` body). */
export interface JobRequest {
  runtime: Runtime;
  code: string;
  stdin?: string;
  timeout_ms: number;
  memory_mb: number;
}

/** A job and, once finished, its result. */
export interface Job {
  id: string;
  runtime: Runtime;
  status: JobStatus;
  stdout: string;
  stderr: string;
  exit_code: number | null;
  execution_time_ms: number | null;
}

export const FINISHED: readonly JobStatus[] = ['succeeded', 'failed', 'timeout', 'killed', 'cancelled'];

/** A job as `GET /jobs` lists it (no output). */
export interface JobSummary {
  id: string;
  runtime: Runtime;
  status: JobStatus;
  exit_code: number | null;
  execution_time_ms: number | null;
  node_id: string;
  owner_id: string;
  createdAt: string;
  finishedAt: string | null;
}

/** A job with its owner and times, as `GET /jobs/:id` answers. */
export type JobDetailView = Job & Omit<JobSummary, keyof Job>;

/** REST side of jobs; the streaming path is the `jobs.run` socket call. */
@Injectable({ providedIn: 'root' })
export class JobsApi {
  private readonly http = inject(HttpClient);

  run(request: JobRequest): Promise<Job> {
    return firstValueFrom(this.http.post<Job>('/api/v1/jobs', request));
  }

  get(id: string): Promise<JobDetailView> {
    return firstValueFrom(this.http.get<JobDetailView>(`/api/v1/jobs/${encodeURIComponent(id)}`));
  }

  /** Job history, newest first (the caller's own; everyone's with jobs.read). */
  history(status: () => JobStatus | ''): PagedList<JobSummary> {
    return new PagedList<JobSummary>((cursor, limit) => {
      let params = new HttpParams().set('limit', limit);
      if (cursor) params = params.set('cursor', cursor);
      const s = status();
      if (s) params = params.set('status', s);
      return this.http.get<Page<JobSummary>>('/api/v1/jobs', { params }).pipe(map(asPage));
    });
  }

  /** Cancelling a finished job is not an error. */
  cancel(id: string): Promise<unknown> {
    return firstValueFrom(this.http.post(`/api/v1/jobs/${encodeURIComponent(id)}/cancel`, {}));
  }
}

/** True when `value` looks like a job result (a failed call may carry one in its data). */
export function isJob(value: unknown): value is Job {
  return !!value && typeof value === 'object' && 'status' in value && ('stdout' in value || 'exit_code' in value);
}

/**
 * What the `jobs.run` call answers in `result.data`: the outcome without the output, which came as
 * `line`s (`{ job_id, status, exit_code, execution_time_ms, truncated? }`).
 */
export interface JobOutcome {
  job_id: string;
  status: JobStatus;
  exit_code: number | null;
  execution_time_ms: number | null;
  truncated?: boolean;
}

/** A Job from the call's outcome and the lines that streamed before it. */
export function jobFromCall(outcome: JobOutcome & Partial<Job>, lines: { stream: string; line: string }[], runtime: Runtime): Job {
  const text = (stream: string) => lines.filter((l) => l.stream === stream).map((l) => `${l.line}\n`).join('');
  return {
    id: outcome.id ?? outcome.job_id,
    runtime: outcome.runtime ?? runtime,
    status: outcome.status,
    stdout: outcome.stdout ?? text('stdout'),
    stderr: outcome.stderr ?? text('stderr'),
    exit_code: outcome.exit_code ?? null,
    execution_time_ms: outcome.execution_time_ms ?? null,
  };
}
