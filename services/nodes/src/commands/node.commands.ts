import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { z } from 'zod';
import { AdvisoryLocks, CommandHandler, newAggregateId, Projector, type Handled } from '@encedeus/messaging';
import { AgentClient } from '@encedeus/fleet';
import { createNodeSchema, DomainError, enrollSchema, parseSizeMb, Subjects, updateNodeSchema, type Enrollment, type EnrollReply, type NodeView } from '@encedeus/contracts';
import { nodeDecider, type NodeState } from '../domain/node.decider';
import { agentActor } from '../domain/agent-server-spec';
import { FleetReadModel } from '../queries/fleet.read-model';
import { AgentCredentials } from '../agents/agent-credentials';
import { EnrollmentTokens } from '../enrollment/enrollment-tokens';
import { Liveness } from '../liveness/liveness';
import { NODES_OPTIONS, type NodesOptions } from '../nodes.options';
import { commandMeta } from '../common/meta';
import { nodeCapacity, visible } from '../common/read-your-writes';

const idSchema = z.object({ id: z.uuid() });

/** Commands on nodes: create, update, drain, delete, enrollment. */
@Controller()
export class NodeCommands {
  constructor(
    @Inject(CommandHandler) private readonly kernel: CommandHandler,
    @Inject(AdvisoryLocks) private readonly capacity: AdvisoryLocks,
    @Inject(Projector) private readonly projector: Projector,
    @Inject(FleetReadModel) private readonly readModel: FleetReadModel,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(AgentCredentials) private readonly creds: AgentCredentials,
    @Inject(EnrollmentTokens) private readonly tokens: EnrollmentTokens,
    @Inject(Liveness) private readonly liveness: Liveness,
    @Inject(NODES_OPTIONS) private readonly options: NodesOptions,
  ) {}

  @MessagePattern(Subjects.command('nodes', 'create_node'))
  async create(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<NodeView & { enrollment: Enrollment }> {
    const cmd = createNodeSchema.parse(data);
    const meta = commandMeta(ctx);
    // A retry with the same Idempotency-Key lands on the node the first attempt created (the decider
    // records nothing new) and gets a fresh enrollment token, the first one voided.
    const id = newAggregateId('create_node', meta);
    const expiresAt = new Date(Date.now() + (cmd.enrollment_ttl_s ?? this.options.enrollmentTtlS ?? 3600) * 1000);
    const handled = await this.kernel.handle(
      'node',
      id,
      nodeDecider,
      {
        type: 'create',
        data: {
          name: cmd.name,
          memory_mb: cmd.memory_mb,
          cpu_percent: cmd.cpu_percent ?? Math.max(1, Math.round(((cmd.cpu_shares ?? 1024) * 100) / 1024)),
          storage_size: cmd.storage_size,
          storage_mb: parseSizeMb(cmd.storage_size)!,
          tags: cmd.tags,
          enrollment_expires_at: expiresAt.toISOString(),
        },
      },
      meta,
    );
    const enrollment = await this.issue(id, expiresAt);
    return { ...(await this.reply(id, handled)), enrollment };
  }

  @MessagePattern(Subjects.command('nodes', 'issue_enrollment'))
  async issueEnrollment(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<Enrollment> {
    const { id, ttl_s } = idSchema.extend({ ttl_s: z.number().int().min(10).max(7 * 24 * 3600).optional() }).parse(data);
    const expiresAt = new Date(Date.now() + (ttl_s ?? this.options.enrollmentTtlS ?? 3600) * 1000);
    await visible(this.projector, await this.kernel.handle('node', id, nodeDecider, { type: 'issue_enrollment', id, expiresAt: expiresAt.toISOString() }, commandMeta(ctx)));
    return this.issue(id, expiresAt);
  }

  private async issue(id: string, expiresAt: Date): Promise<Enrollment> {
    const token = await this.tokens.issue(id, expiresAt);
    // The gateway writes its own public address into `command` (REST); this one is for NATS callers.
    return { token, expiresAt: expiresAt.toISOString(), command: enrollmentCommand(this.options.publicGatewayUrl ?? 'http://localhost:8080', token) };
  }

  /** The node's view from its decided state, once the read model has it (lists and metrics read it next). */
  private async reply(id: string, handled: Handled<NodeState>): Promise<NodeView> {
    await visible(this.projector, handled);
    const allocated = (await this.readModel.allocations([id])).get(id);
    return this.readModel.views.nodeFromState(id, handled.state, handled.revision.version, allocated);
  }

  @MessagePattern(Subjects.command('nodes', 'update_node'))
  async update(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<NodeView> {
    const { id, ...rest } = idSchema.passthrough().parse(data) as { id: string } & Record<string, unknown>;
    const patch = updateNodeSchema.parse(rest);
    return this.reply(id, await this.kernel.handle('node', id, nodeDecider, { type: 'update', id, patch }, commandMeta(ctx)));
  }

  @MessagePattern(Subjects.command('nodes', 'drain_node'))
  async drain(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<NodeView> {
    const { id } = idSchema.parse(data);
    return this.reply(id, await this.kernel.handle('node', id, nodeDecider, { type: 'drain', id }, commandMeta(ctx)));
  }

  @MessagePattern(Subjects.command('nodes', 'delete_node'))
  async remove(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ id: string; deleted: true }> {
    const { id } = idSchema.parse(data);
    // Under the node's capacity lock: a server create on this node waits, then finds the node gone.
    await this.capacity.run(nodeCapacity(id), async () =>
      visible(this.projector, await this.kernel.handle('node', id, nodeDecider, { type: 'delete', id, liveServers: await this.readModel.countServersOnNode(id) }, commandMeta(ctx))),
    );
    await this.tokens.remove(id);
    // Tell a connected agent to forget its credentials and stop (best effort: they also expire).
    if (this.liveness.isOnline(id)) await this.agents.request(id, 'revoke', {}, 5000).catch(() => undefined);
    this.liveness.forget(id);
    return { id, deleted: true };
  }

  /**
   * `cmd.nodes.enroll`: the only subject the bootstrap user may request; the gateway sends it for
   * `POST /api/v1/agent/enroll`. The reply carries this node's credentials only.
   */
  @MessagePattern(Subjects.enroll)
  async enroll(@Payload() data: unknown): Promise<EnrollReply> {
    const cmd = enrollSchema.parse(data);
    const consumed = await this.tokens.consume(cmd.token);
    if (!consumed.ok) {
      if (consumed.reason === 'used') throw new DomainError('TOKEN_EXPIRED', 'The enrollment token was already used; issue a new one on the node page');
      if (consumed.reason === 'expired') throw new DomainError('TOKEN_EXPIRED', 'The enrollment token has expired; issue a new one on the node page');
      throw new DomainError('UNAUTHENTICATED', 'The enrollment token is invalid, used or expired');
    }
    const nodeId = consumed.nodeId;
    await this.kernel.handle('node', nodeId, nodeDecider, { type: 'enroll', agent_version: cmd.agent_version, hostname: cmd.hostname }, { actor: agentActor(nodeId) });
    return { node_id: nodeId, creds: await this.creds.mint(nodeId), nats_url: this.options.publicNatsUrl };
  }
}

/** The one line an operator runs on a new node: fetch the install script from the gateway, enroll with the token. */
export function enrollmentCommand(gatewayUrl: string, token: string): string {
  return `curl -fsSL ${gatewayUrl.replace(/\/+$/, '')}/agent/install.sh | sh -s -- --token ${token}`;
}
