import { Inject, Injectable } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { z } from 'zod';
import { canSeeJob, DomainError, NotFoundError, type JobView } from '@encedeus/contracts';
import { CommandClient, NATS_CONNECTION } from '@encedeus/messaging';
import { droppedLinesNotice, JobOutputTail } from '../push/job-output-tail';
import type { CallContext, CallOutcome, RealtimeCall } from './call';
import { finishedOutcome, waitJobFinished } from './job-finished';

export const attachJobSchema = z.object({
  job_id: z.uuid({ error: 'job_id must be a job id (a UUID)' }),
});
export type AttachJob = z.infer<typeof attachJobSchema>;

/** Jobs run at most 15 minutes (runJobSchema); beyond that, the agent's reply and the append. */
const LONGEST_JOB_MS = 15 * 60_000;
const FINISH_SLACK_MS = 60_000;

/**
 * `jobs.attach { job_id }`: the page of a job that is still running (also after a reload, issue 14).
 * The caller must see the job as GET /jobs/:id decides (its owner, or jobs.read; otherwise
 * NOT_FOUND, as the REST 404). Sends the output this gateway kept of the job so far (its last
 * 64 KiB, JobOutputTail; when earlier lines are no longer kept, first a `line` with stream `notice`
 * says how many), then each new line as it comes, and ends with the same result as `jobs.run` once
 * the job finishes (the whole stdout/stderr in `data`). A job that already ended answers its result
 * at once. Cancelling the call only detaches: the job runs on.
 */
@Injectable()
export class JobsAttachCall implements RealtimeCall<AttachJob> {
  readonly name = 'jobs.attach';
  readonly params = attachJobSchema;

  constructor(
    private readonly commands: CommandClient,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    private readonly tail: JobOutputTail,
  ) {}

  /** Every signed-in caller may ask; whether it sees the job is decided on the job itself (run). */
  authorize(): void {}

  async run(ctx: CallContext, { job_id: jobId }: AttachJob): Promise<CallOutcome> {
    const job = await this.commands.send<JobView>('nodes', 'get_job', { id: jobId }, ctx.meta);
    if (!canSeeJob(ctx.principal, job)) throw new NotFoundError('Job', jobId);

    // A caller that stops seeing the job (a role change, a revoked key) gets no further line.
    const lost = new AbortController();
    const follow = this.tail.follow(job.node_id, jobId, (l) => {
      if (lost.signal.aborted) return;
      if (!canSeeJob(ctx.principal, job)) return lost.abort();
      ctx.line(l.line, l.stream);
    }, (dropped) => ctx.line(droppedLinesNotice(dropped), 'notice'));
    try {
      const left = Date.parse(job.createdAt) + LONGEST_JOB_MS + FINISH_SLACK_MS - Date.now();
      const finished = await waitJobFinished(this.nc, jobId, AbortSignal.any([ctx.signal, lost.signal]), Math.max(left, FINISH_SLACK_MS), 0);
      if (lost.signal.aborted) throw new NotFoundError('Job', jobId);
      if (!finished) {
        if (ctx.signal.aborted) return { success: false, code: 'CANCELLED', message: 'Detached from the job; it runs on', data: { job_id: jobId } };
        throw new DomainError('TIMEOUT', `Job ${jobId} did not finish in time`, { job_id: jobId });
      }
      follow.stop();
      this.tail.forget(job.node_id, jobId);
      return finishedOutcome(jobId, finished);
    } finally {
      follow.stop();
    }
  }
}
