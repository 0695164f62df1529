import { Controller, Inject, Logger } from '@nestjs/common';
import { Ctx, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { z } from 'zod';
import { jobResultReplySchema, NotFoundError, runJobSchema, ServiceUnavailableError, Subjects, type JobResultReply, type JobView, type RunJob } from '@encedeus/contracts';
import { CommandHandler, newAggregateId, Projector, type CommandMeta, type Handled } from '@encedeus/messaging';
import { AgentClient } from '@encedeus/fleet';
import { jobDecider, type JobState } from '../domain/job.decider';
import { placeJob } from '../domain/placement';
import { agentActor } from '../domain/agent-server-spec';
import { FleetReadModel } from '../queries/fleet.read-model';
import { JobInputs } from '../jobs/job-inputs';
import { Liveness } from '../liveness/liveness';
import { actorUserId, commandMeta } from '../common/meta';
import { visible } from '../common/read-your-writes';

const idSchema = z.object({ id: z.uuid() });
const cancelledBeforeStart: JobResultReply = { status: 'cancelled', stdout: '', stderr: '', exit_code: null, execution_time_ms: 0 };
/**
 * What `run_job` takes besides the job: whether to wait, and the owner's user id (the gateway sends
 * it, so a job run with an API key belongs to the key's owner; the actor names only the key).
 */
const runOptionsSchema = z.object({ wait: z.boolean().default(true), owner_id: z.uuid().optional() });

/** One-off jobs ("lambda", seed 001) run by an agent's sandbox. */
@Controller()
export class JobCommands {
  private readonly logger = new Logger('JobCommands');

  constructor(
    @Inject(CommandHandler) private readonly kernel: CommandHandler,
    @Inject(Projector) private readonly projector: Projector,
    @Inject(FleetReadModel) private readonly readModel: FleetReadModel,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(JobInputs) private readonly jobInputs: JobInputs,
    @Inject(Liveness) private readonly liveness: Liveness,
  ) {}

  /** `wait: true` (default) answers when the job ended; `wait: false` answers at once with the queued job. */
  @MessagePattern(Subjects.command('nodes', 'run_job'))
  async run(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<JobView> {
    const { wait, owner_id: ownerId, ...rest } = runOptionsSchema.passthrough().parse(data) as z.infer<typeof runOptionsSchema> & Record<string, unknown>;
    const cmd = runJobSchema.parse(rest);
    const meta = commandMeta(ctx);
    const nodeId = cmd.node_id ?? placeJob(await this.readModel.jobNodes(), cmd.runtime, (n) => Math.floor(Math.random() * n));
    if (cmd.node_id && !this.liveness.isOnline(cmd.node_id)) {
      // A node that does not exist is the caller's mistake (404); an enrolled one that is down is ours (503).
      if (!(await this.readModel.nodeRow(cmd.node_id))) throw new NotFoundError('Node', cmd.node_id);
      throw new ServiceUnavailableError(`Node ${cmd.node_id} is offline`, { node_id: cmd.node_id });
    }
    const id = newAggregateId('run_job', meta);
    // Code and stdin are stored once, with a retention, outside EVENTS; the event keeps hash and size.
    const code = await this.jobInputs.put(cmd.code);
    const stdin = cmd.stdin !== undefined ? await this.jobInputs.put(cmd.stdin) : undefined;
    const created = await this.kernel.handle(
      'job',
      id,
      jobDecider,
      {
        type: 'create',
        data: {
          runtime: cmd.runtime,
          code_sha256: code.sha256,
          code_bytes: code.bytes,
          ...(stdin ? { stdin_sha256: stdin.sha256, stdin_bytes: stdin.bytes } : {}),
          timeout_ms: cmd.timeout_ms,
          memory_mb: cmd.memory_mb,
          node_id: nodeId,
          owner_id: ownerId ?? actorUserId(meta.actor),
        },
      },
      meta,
    );
    // A retry of a run with the same idempotency key finds its job: it is not run twice.
    if (created.events.length === 0) return this.reply(id, created);
    await visible(this.projector, created);
    const running = this.execute(id, nodeId, cmd, meta);
    if (!wait) {
      running.catch((error) => this.logger.warn(`job ${id}: ${(error as Error).message}`));
      return this.reply(id, created);
    }
    return this.reply(id, await running);
  }

  private async reply(id: string, handled: Handled<JobState>): Promise<JobView> {
    await visible(this.projector, handled);
    return this.readModel.views.jobFromState(id, handled.state, handled.revision.version);
  }

  private async execute(id: string, nodeId: string, cmd: RunJob, asked: CommandMeta): Promise<Handled<JobState>> {
    // If-Match (if any) was for the run itself; the steps that follow are recorded whatever happened since.
    const meta = { ...asked, expectedVersion: undefined };
    const started = await this.kernel.handle('job', id, jobDecider, { type: 'start' }, meta);
    // Cancelled while queued (the cancel overtook the start): the agent never sees it.
    const result = started.state.cancelled ? cancelledBeforeStart : await this.runOnAgent(id, nodeId, cmd);
    const { isolation: _isolation, ...facts } = result;
    return this.kernel.handle(
      'job',
      id,
      jobDecider,
      { type: 'finish', result: { ...facts, execution_time_ms: Math.round(facts.execution_time_ms) } },
      { ...meta, actor: started.state.cancelled ? meta.actor : agentActor(nodeId) },
      { conflictRetries: 3 },
    );
  }

  private async runOnAgent(id: string, nodeId: string, cmd: RunJob): Promise<JobResultReply> {
    try {
      const reply = await this.agents.request<unknown>(
        nodeId,
        'run_job',
        { job_id: id, runtime: cmd.runtime, code: cmd.code, stdin: cmd.stdin, timeout_ms: cmd.timeout_ms, memory_mb: cmd.memory_mb },
        cmd.timeout_ms + 15_000,
      );
      // The agent is not trusted to answer in shape: an odd reply ends the job as failed instead of leaving it running.
      return jobResultReplySchema.parse(reply);
    } catch (error) {
      const why = error instanceof z.ZodError ? 'the agent answered with an invalid job result' : (error as Error).message;
      return { status: 'failed', stdout: '', stderr: `encedeus: ${why}`, exit_code: null, execution_time_ms: 0 };
    }
  }

  @MessagePattern(Subjects.command('nodes', 'cancel_job'))
  async cancel(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<JobView> {
    const { id } = idSchema.parse(data);
    const handled = await this.kernel.handle('job', id, jobDecider, { type: 'cancel', id }, commandMeta(ctx));
    await this.agents.request(handled.state.nodeId, 'cancel_job', { job_id: id }, 5000).catch(() => undefined);
    return this.reply(id, handled);
  }
}
