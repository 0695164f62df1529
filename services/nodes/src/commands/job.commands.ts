import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { event, JobCreated, runJobSchema, ServiceUnavailableError, Subjects, type JobResultReply, type JobView, type RunJob } from '@encedeus/contracts';
import type { AppendMeta } from '@encedeus/messaging';
import { FleetCore } from '../fleet-core';
import { decideCancel, decideFinished, decideStarted, jobReducer } from '../domain/job.decider';
import { SCHEMA } from '../projections/fleet.projection';
import { actorUserId, commandMeta } from '../common/meta';

const idSchema = z.object({ id: z.uuid() });

/** One-off jobs ("lambda", seed 001) run by an agent's sandbox. */
@Controller()
export class JobCommands {
  constructor(@Inject(FleetCore) private readonly fleet: FleetCore) {}

  /** `wait: true` (default) answers when the job ended; `wait: false` answers at once with the queued job. */
  @MessagePattern(Subjects.command('nodes', 'run_job'))
  async run(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<JobView> {
    const { wait, ...rest } = z.object({ wait: z.boolean().default(true) }).passthrough().parse(data) as { wait: boolean } & Record<string, unknown>;
    const cmd = runJobSchema.parse(rest);
    const meta = commandMeta(ctx);
    const nodeId = cmd.node_id ?? (await this.place(cmd.runtime));
    if (cmd.node_id && !this.fleet.liveness.isOnline(cmd.node_id)) throw new ServiceUnavailableError(`Node ${cmd.node_id} is offline`, { node_id: cmd.node_id });
    const id = randomUUID();
    await this.fleet.execute('job', id, jobReducer, () => [
      event(JobCreated, {
        runtime: cmd.runtime,
        code: cmd.code,
        ...(cmd.stdin !== undefined ? { stdin: cmd.stdin } : {}),
        timeout_ms: cmd.timeout_ms,
        memory_mb: cmd.memory_mb,
        node_id: nodeId,
        owner_id: actorUserId(meta.actor),
      }),
    ], meta);
    const running = this.execute(id, nodeId, cmd, meta);
    if (!wait) {
      running.catch((error) => this.fleet.logger.warn(`job ${id}: ${(error as Error).message}`));
      return this.fleet.getJobView(id);
    }
    await running;
    return this.fleet.getJobView(id);
  }

  private async execute(id: string, nodeId: string, cmd: RunJob, meta: AppendMeta): Promise<void> {
    await this.fleet.execute('job', id, jobReducer, decideStarted, meta);
    let result: JobResultReply;
    try {
      result = await this.fleet.agents.request<JobResultReply>(
        nodeId,
        'run_job',
        { job_id: id, runtime: cmd.runtime, code: cmd.code, stdin: cmd.stdin, timeout_ms: cmd.timeout_ms, memory_mb: cmd.memory_mb },
        cmd.timeout_ms + 15_000,
      );
    } catch (error) {
      result = { status: 'failed', stdout: '', stderr: `encedeus: ${(error as Error).message}`, exit_code: null, execution_time_ms: 0 };
    }
    const { isolation: _isolation, ...facts } = result;
    await this.fleet.execute('job', id, jobReducer, (s) => decideFinished(s, { ...facts, execution_time_ms: Math.round(facts.execution_time_ms) }), {
      ...meta,
      actor: `agent:${nodeId}`,
    });
  }

  private async place(runtime: string): Promise<string> {
    const rows: { id: string; spec: any }[] = await this.fleet.db.query(`select id, spec from ${SCHEMA}.nodes where not draining`);
    const candidates = rows.filter((n) => this.fleet.liveness.isOnline(n.id) && (!n.spec?.runtimes?.length || n.spec.runtimes.includes(runtime)));
    if (candidates.length === 0) throw new ServiceUnavailableError(`No online node can run ${runtime} jobs`, { runtime });
    return candidates[Math.floor(Math.random() * candidates.length)].id;
  }

  @MessagePattern(Subjects.command('nodes', 'cancel_job'))
  async cancel(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<JobView> {
    const { id } = idSchema.parse(data);
    const { state } = await this.fleet.execute('job', id, jobReducer, (s) => decideCancel(s, id), commandMeta(ctx));
    await this.fleet.agents.request(state.nodeId, 'cancel_job', { job_id: id }, 5000).catch(() => undefined);
    return this.fleet.getJobView(id);
  }
}
