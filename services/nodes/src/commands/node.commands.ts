import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { mintUserCreds, SERVICE_PERMISSIONS } from '@encedeus/messaging';
import {
  createNodeSchema,
  DomainError,
  enrollSchema,
  event,
  NodeCreated,
  NodeEnrollmentIssued,
  NodeUpdated,
  parseSizeMb,
  Subjects,
  updateNodeSchema,
  withBootstrapCreds,
  type Enrollment,
  type EnrollReply,
  type NodeView,
} from '@encedeus/contracts';
import { agentActor, FleetCore } from '../fleet-core';
import { assertLive, decideDelete, decideDrain, decideEnroll, nodeReducer } from '../domain/node.decider';
import { SCHEMA } from '../projections/fleet.projection';
import { commandMeta } from '../common/meta';

const idSchema = z.object({ id: z.uuid() });

/** Commands on nodes: create, update, drain, delete, enrollment. */
@Controller()
export class NodeCommands {
  constructor(@Inject(FleetCore) private readonly fleet: FleetCore) {}

  @MessagePattern(Subjects.command('nodes', 'create_node'))
  async create(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<NodeView & { enrollment: Enrollment }> {
    const cmd = createNodeSchema.parse(data);
    const meta = commandMeta(ctx);
    const id = randomUUID();
    const ttl = cmd.enrollment_ttl_s ?? this.fleet.options.enrollmentTtlS ?? 3600;
    const expiresAt = new Date(Date.now() + ttl * 1000);
    const cpu = cmd.cpu_percent ?? Math.max(1, Math.round(((cmd.cpu_shares ?? 1024) * 100) / 1024));
    await this.fleet.execute('node', id, nodeReducer, () => [
      event(NodeCreated, {
        name: cmd.name,
        memory_mb: cmd.memory_mb,
        cpu_percent: cpu,
        storage_size: cmd.storage_size,
        storage_mb: parseSizeMb(cmd.storage_size)!,
        tags: cmd.tags,
        enrollment_expires_at: expiresAt.toISOString(),
      }),
    ], meta);
    const enrollment = await this.issue(id, expiresAt);
    return { ...(await this.fleet.getNodeView(id)), enrollment };
  }

  @MessagePattern(Subjects.command('nodes', 'issue_enrollment'))
  async issueEnrollment(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<Enrollment> {
    const { id, ttl_s } = idSchema.extend({ ttl_s: z.number().int().min(10).max(7 * 24 * 3600).optional() }).parse(data);
    const expiresAt = new Date(Date.now() + (ttl_s ?? this.fleet.options.enrollmentTtlS ?? 3600) * 1000);
    await this.fleet.execute('node', id, nodeReducer, (s) => {
      assertLive(s, id);
      return [event(NodeEnrollmentIssued, { enrollment_expires_at: expiresAt.toISOString() })];
    }, commandMeta(ctx));
    return this.issue(id, expiresAt);
  }

  private async issue(id: string, expiresAt: Date): Promise<Enrollment> {
    const bare = await this.fleet.tokens.issue(id, expiresAt);
    const bootstrap = await mintUserCreds(this.fleet.options.signer, `agent-bootstrap-${id}`, SERVICE_PERMISSIONS['agent-bootstrap'], {
      expiresInSeconds: Math.max(10, Math.ceil((expiresAt.getTime() - Date.now()) / 1000)),
    });
    const token = withBootstrapCreds(bare, bootstrap);
    return {
      token,
      expiresAt: expiresAt.toISOString(),
      command: `npm run agent -- --nats ${this.fleet.options.publicNatsUrl} --token ${token}`,
    };
  }

  @MessagePattern(Subjects.command('nodes', 'update_node'))
  async update(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<NodeView> {
    const { id, ...rest } = idSchema.passthrough().parse(data) as { id: string } & Record<string, unknown>;
    const patch = updateNodeSchema.parse(rest);
    await this.fleet.execute('node', id, nodeReducer, (s) => {
      assertLive(s, id);
      const changed: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(patch)) {
        if (value !== undefined && JSON.stringify((s as any)[key]) !== JSON.stringify(value)) changed[key] = value;
      }
      if (changed.storage_size !== undefined) changed.storage_mb = parseSizeMb(changed.storage_size as string);
      return Object.keys(changed).length ? [event(NodeUpdated, changed)] : [];
    }, commandMeta(ctx));
    return this.fleet.getNodeView(id);
  }

  @MessagePattern(Subjects.command('nodes', 'drain_node'))
  async drain(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<NodeView> {
    const { id } = idSchema.parse(data);
    await this.fleet.execute('node', id, nodeReducer, (s) => decideDrain(s, id), commandMeta(ctx));
    return this.fleet.getNodeView(id);
  }

  @MessagePattern(Subjects.command('nodes', 'delete_node'))
  async remove(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ id: string; deleted: true }> {
    const { id } = idSchema.parse(data);
    await this.fleet.nodeLocks.run(id, () =>
      this.fleet.execute('node', id, nodeReducer, async (s) => {
        const [{ count }] = await this.fleet.db.query(`select count(*)::int as count from ${SCHEMA}.servers where node_id = $1`, [id]);
        return decideDelete(s, id, count);
      }, commandMeta(ctx)),
    );
    await this.fleet.tokens.remove(id);
    // Tell a connected agent to forget its credentials and stop (best effort: they also expire).
    if (this.fleet.liveness.isOnline(id)) await this.fleet.agents.request(id, 'revoke', {}, 5000).catch(() => undefined);
    this.fleet.liveness.forget(id);
    return { id, deleted: true };
  }

  /** `cmd.nodes.enroll`: the only subject the bootstrap user may request. */
  @MessagePattern(Subjects.enroll)
  async enroll(@Payload() data: unknown): Promise<EnrollReply> {
    const cmd = enrollSchema.parse(data);
    const nodeId = await this.fleet.tokens.consume(cmd.token);
    if (!nodeId) throw new DomainError('UNAUTHENTICATED', 'The enrollment token is invalid, used or expired');
    await this.fleet.execute('node', nodeId, nodeReducer, (s) => decideEnroll(s, nodeId, { agent_version: cmd.agent_version, hostname: cmd.hostname }), {
      actor: agentActor(nodeId),
    });
    return { node_id: nodeId, creds: await this.fleet.mintAgentCreds(nodeId) };
  }
}
