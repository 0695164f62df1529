import { z } from 'zod';
import { text } from '../text';

export const JOB_RUNTIMES = ['python3', 'node', 'bash'] as const;
export type JobRuntime = (typeof JOB_RUNTIMES)[number];
export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'timeout', 'killed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** `POST /jobs` (seed 001's lambda, `{Code, Runtime}` regrouped). */
export const runJobSchema = z.object({
  runtime: z.enum(JOB_RUNTIMES),
  code: text().min(1).max(1024 * 1024),
  stdin: text().max(1024 * 1024).optional(),
  timeout_ms: z.number().int().min(100).max(15 * 60_000).default(10_000),
  memory_mb: z.number().int().min(16).max(16 * 1024).default(128),
  node_id: z.uuid().optional(),
});
export type RunJob = z.infer<typeof runJobSchema>;

/** A job as REST answers it. */
export interface JobView {
  id: string;
  runtime: JobRuntime;
  status: JobStatus;
  stdout: string;
  stderr: string;
  exit_code: number | null;
  execution_time_ms: number | null;
  node_id: string;
  owner_id: string;
  createdAt: string;
  finishedAt: string | null;
}

/** A job in a list (`GET /jobs`): its output is left out; `GET /jobs/:id` has it. */
export type JobSummary = Omit<JobView, 'stdout' | 'stderr'>;

/** `GET /jobs` filters, beside `limit` and `cursor`. */
export const listJobsQuerySchema = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  node_id: z.uuid().optional(),
  /** Callers with jobs.read: one owner's jobs. */
  owner_id: z.uuid().optional(),
});
