import { Inject, Injectable } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { DomainError, ForbiddenError, runJobSchema, type JobView, type RunJob } from '@encedeus/contracts';
import { CommandClient, NATS_CONNECTION } from '@encedeus/messaging';
import type { Principal } from '@encedeus/security';
import { droppedLinesNotice, JobOutputTail } from '../push/job-output-tail';
import type { CallContext, CallOutcome, RealtimeCall } from './call';
import { CALL_DISCONNECTED } from './call-runner';
import { finishedOutcome, waitJobFinished } from './job-finished';

// The nodes service answers run_job once the job is placed and recorded.
const PLACE_TIMEOUT_MS = 15_000;
// Beyond the job's own timeout: the agent's reply and the job.finished append.
const FINISH_SLACK_MS = 30_000;

/**
 * `jobs.run { runtime, code, stdin?, timeout_ms, memory_mb, node_id? }` (needs jobs.run).
 * Asks the nodes service to run the job without waiting (`cmd.nodes.run_job`, wait: false), then
 * follows `evt.job.<id>` until `job.finished`. Output lines stream live from the agent of the job's
 * node (`agent.<node>.job.<id>.out`, through JobOutputTail, as for `jobs.attach`); the result
 * carries the whole stdout/stderr. Cancel → `cmd.nodes.cancel_job`;
 * a disconnect only ends the call (the job runs on).
 */
@Injectable()
export class JobsRunCall implements RealtimeCall<RunJob> {
  readonly name = 'jobs.run';
  readonly params = runJobSchema;

  constructor(
    private readonly commands: CommandClient,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    private readonly tail: JobOutputTail,
  ) {}

  authorize(principal: Principal): void {
    if (!principal.permissions.has('jobs.run')) throw new ForbiddenError('Running jobs needs the jobs.run permission');
  }

  async run(ctx: CallContext, params: RunJob): Promise<CallOutcome> {
    // The job belongs to the caller's user, also when the socket signed in with an API key.
    const job = await this.commands.send<JobView>('nodes', 'run_job', { ...params, wait: false, owner_id: ctx.principal.userId }, ctx.meta, { timeoutMs: PLACE_TIMEOUT_MS });
    // Lines printed before run_job answered are in the tail and come first. Only the job's own
    // node's lines count: another node's agent cannot write into this job's output.
    let forwarded = 0;
    const live = this.tail.follow(job.node_id, job.id, (l) => {
      forwarded++;
      ctx.line(l.line, l.stream);
    }, (dropped) => ctx.line(droppedLinesNotice(dropped), 'notice'));
    try {
      // A cancel stops the job; a socket that went away (a reload, a closed tab) does not: the job runs
      // on, and its page (GET /jobs/:id, the history) shows the result (issue 14: a job was lost on reload).
      const cancel = () => {
        if (ctx.signal.reason === CALL_DISCONNECTED) return;
        void this.commands.send('nodes', 'cancel_job', { id: job.id }, ctx.meta).catch(() => undefined);
      };
      if (ctx.signal.aborted) cancel();
      else ctx.signal.addEventListener('abort', cancel, { once: true });

      const finished = await waitJobFinished(this.nc, job.id, ctx.signal, params.timeout_ms + FINISH_SLACK_MS);
      if (!finished) {
        if (ctx.signal.aborted) return { success: false, code: 'CANCELLED', message: 'The job was cancelled', data: { job_id: job.id } };
        throw new DomainError('TIMEOUT', `Job ${job.id} did not finish in time`, { job_id: job.id });
      }
      // Give the last live lines a moment to arrive; without any (an older agent), replay the result.
      await new Promise((r) => setTimeout(r, 50));
      live.stop();
      this.tail.forget(job.node_id, job.id);
      if (forwarded === 0) {
        for (const line of lines(finished.stdout)) ctx.line(line, 'stdout');
        for (const line of lines(finished.stderr)) ctx.line(line, 'stderr');
      }
      return finishedOutcome(job.id, finished);
    } finally {
      live.stop();
    }
  }
}

function lines(text: string): string[] {
  if (!text) return [];
  const all = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (all[all.length - 1] === '') all.pop();
  return all;
}
