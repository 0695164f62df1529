import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { z } from 'zod';
import {
  addSubuserCommandSchema,
  ConflictError,
  createServerSchema,
  POWER_ACTIONS,
  removeSubuserCommandSchema,
  serverCommandSchema,
  subuserActorSchema,
  subuserGrant,
  Subjects,
  updateServerSchema,
  updateSubuserCommandSchema,
  type PowerAction,
  type PowerReply,
  type ServerView,
  type SubuserGrantView,
} from '@encedeus/contracts';
import { AdvisoryLocks, CommandHandler, EventStore, newAggregateId, Projector } from '@encedeus/messaging';
import { AgentClient } from '@encedeus/fleet';
import { assertLimits, assertServer, serverDecider, type ServerState } from '../domain/server.decider';
import { assertTemplate, templateDecider } from '../domain/template.decider';
import { placeServer } from '../domain/placement';
import { agentServerSpec } from '../domain/agent-server-spec';
import { FleetReadModel } from '../queries/fleet.read-model';
import { AgentCredentials } from '../agents/agent-credentials';
import { Liveness } from '../liveness/liveness';
import { UsageCache } from '../telemetry/usage-cache';
import { FleetTimers } from '../process-managers/fleet-timers';
import { actorUserId, commandMeta } from '../common/meta';
import { nodeCapacity, serverWork, visible } from '../common/read-your-writes';

const idSchema = z.object({ id: z.uuid() });
/** Set by the gateway: the caller holds one of LOCKED_VARIABLE_EDITORS (absent: no). */
const lockedEditSchema = z.object({ edit_locked_variables: z.boolean().optional() });
/** The caller of update_server as the gateway vouches for it (needed to change the startup line). */
const updateActorSchema = z.object({ actor: subuserActorSchema.optional() });

/**
 * Commands on servers: validate, load the facts the decider needs, `CommandHandler.handle`, reply
 * from the decided state. A power action is two commands around the agent call (what was asked, then
 * what the agent did), serialised per server in this process; installing and crash restarts are
 * process managers (process-managers/).
 */
@Controller()
export class ServerCommands {
  constructor(
    @Inject(CommandHandler) private readonly kernel: CommandHandler,
    @Inject(AdvisoryLocks) private readonly capacity: AdvisoryLocks,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Projector) private readonly projector: Projector,
    @Inject(FleetReadModel) private readonly readModel: FleetReadModel,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(AgentCredentials) private readonly creds: AgentCredentials,
    @Inject(Liveness) private readonly liveness: Liveness,
    @Inject(UsageCache) private readonly usage: UsageCache,
    @Inject(FleetTimers) private readonly timers: FleetTimers,
  ) {}

  @MessagePattern(Subjects.command('nodes', 'create_server'))
  async create(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<ServerView> {
    const cmd = createServerSchema.parse(data);
    const { edit_locked_variables: editLocked = false } = lockedEditSchema.parse(data);
    const meta = commandMeta(ctx);
    const { state: template } = await this.store.load('template', cmd.template_id, templateDecider);
    assertTemplate(template, cmd.template_id);
    const limits = { ...template.data.limits, ...cmd.limits };
    assertLimits(limits);
    const nodeId = cmd.node_id ?? placeServer(await this.readModel.placeableNodes(), limits, template.data.driver);
    const id = newAggregateId('create_server', meta);
    // The capacity check reads the read model: the previous create on this node must be visible first.
    const handled = await this.capacity.run(nodeCapacity(nodeId), async () =>
      visible(
        this.projector,
        await this.kernel.handle(
          'server',
          id,
          serverDecider,
          {
            type: 'create',
            name: cmd.name,
            template_id: cmd.template_id,
            template: template.data,
            owner_id: cmd.owner_id ?? actorUserId(meta.actor),
            limits: cmd.limits,
            variables: cmd.variables,
            ports: cmd.ports,
            node: await this.readModel.nodeCapacity(nodeId),
            explicitNode: cmd.node_id !== undefined,
            editLocked,
          },
          meta,
        ),
      ),
    );
    this.timers.nudge();
    return this.readModel.views.serverFromState(id, handled.state, handled.revision.version);
  }

  @MessagePattern(Subjects.command('nodes', 'update_server'))
  async update(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<ServerView> {
    const { id, ...rest } = idSchema.passthrough().parse(data) as { id: string } & Record<string, unknown>;
    const patch = updateServerSchema.parse(rest);
    const { edit_locked_variables: editLocked = false } = lockedEditSchema.parse(rest);
    const { actor } = updateActorSchema.parse(rest);
    const { state } = await this.store.load('server', id, serverDecider);
    assertServer(state, id);
    const update = async () => {
      const node = patch.limits ? await this.readModel.nodeCapacity(state.node_id, id) : null;
      return visible(this.projector, await this.kernel.handle('server', id, serverDecider, { type: 'update', id, patch, node, editLocked, actor }, commandMeta(ctx)));
    };
    const handled = patch.limits ? await this.capacity.run(nodeCapacity(state.node_id), update) : await update();
    return this.readModel.views.serverFromState(id, handled.state, handled.revision.version);
  }

  /** Removes the server on its agent (when online), then records server.deleted; an offline agent removes it at its next sync. */
  @MessagePattern(Subjects.command('nodes', 'delete_server'))
  async remove(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ id: string; deleted: true }> {
    const { id } = idSchema.parse(data);
    const handled = await this.kernel.lock(serverWork(id), () =>
      // handleAsync: the agent's removal is the step before the record, so a refused If-Match removes nothing.
      this.kernel.handleAsync(
        'server',
        id,
        serverDecider,
        async (s, revision) => {
          assertServer(s, id);
          const events = serverDecider.decide({ type: 'delete' }, s, revision);
          if (events.length && this.liveness.isOnline(s.node_id)) {
            await this.agents.request(s.node_id, 'remove_server', { server_id: id }, (s.template!.stop.timeout_s * 2 + 20) * 1000);
          }
          return events;
        },
        commandMeta(ctx),
      ),
    );
    await visible(this.projector, handled);
    this.usage.forgetServer(handled.state.node_id, id);
    await this.creds.refresh(handled.state.node_id);
    return { id, deleted: true };
  }

  /** A power action: record what was asked, tell the agent, record what it did; serialised per server. */
  @MessagePattern(Subjects.command('nodes', 'power'))
  async power(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<ServerView & { action: PowerAction }> {
    const { id, action } = idSchema.extend({ action: z.enum(POWER_ACTIONS) }).parse(data);
    const meta = commandMeta(ctx);
    const { asked, done } = await this.kernel.lock(serverWork(id), async () => {
      // Whether the node is online is a fact of this moment, read for the state the kernel loaded.
      const asked = await this.kernel.handleAsync(
        'server',
        id,
        serverDecider,
        (s, revision) => serverDecider.decide({ type: 'request_power', id, action, nodeOnline: this.liveness.isOnline(s.node_id) }, s, revision),
        meta,
      );
      const { state } = asked;
      const stop = state.template!.stop;
      const timeoutMs = action === 'start' || action === 'kill' ? 30_000 : (stop.timeout_s * 2 + 30) * 1000;
      // If this request fails it may still have reached the agent: its reports (started/exited) correct the state.
      const reply = await this.agents.request<PowerReply>(state.node_id, 'power', { server_id: id, action, spec: agentServerSpec(id, state) }, timeoutMs);
      // If-Match held for what was asked; what the agent did is recorded whatever happened since.
      const done = await this.kernel.handle('server', id, serverDecider, { type: 'record_power', action, reply }, { ...meta, expectedVersion: undefined });
      return { asked, done };
    });
    // Outside the server's lock: the next action on it need not wait for this one's read model.
    await visible(this.projector, done.events.length ? done : asked);
    return { ...this.readModel.views.serverFromState(id, done.state, done.revision.version), action };
  }

  /**
   * Sub-users (docs/subusers.md): the gateway resolved the user and vouches for the caller
   * (`actor`); the decider re-applies contracts' rule to the server's current state. Answers the
   * grant with the server's version (If-Match applies like every server command).
   */
  @MessagePattern(Subjects.command('nodes', 'add_subuser'))
  async addSubuser(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<SubuserGrantView> {
    const c = addSubuserCommandSchema.parse(data);
    const handled = await visible(
      this.projector,
      await this.kernel.handle('server', c.id, serverDecider, { type: 'add_subuser', id: c.id, userId: c.user_id, permissions: c.permissions, actor: c.actor }, commandMeta(ctx)),
    );
    return grantView(c.id, c.user_id, handled.state, handled.revision.version);
  }

  @MessagePattern(Subjects.command('nodes', 'update_subuser'))
  async updateSubuser(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<SubuserGrantView> {
    const c = updateSubuserCommandSchema.parse(data);
    const handled = await visible(
      this.projector,
      await this.kernel.handle('server', c.id, serverDecider, { type: 'update_subuser', id: c.id, userId: c.user_id, permissions: c.permissions, actor: c.actor }, commandMeta(ctx)),
    );
    return grantView(c.id, c.user_id, handled.state, handled.revision.version);
  }

  /** The removal is visible in the read model before the answer: the removed user's next request is refused. */
  @MessagePattern(Subjects.command('nodes', 'remove_subuser'))
  async removeSubuser(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<{ id: string; user_id: string; removed: true }> {
    const c = removeSubuserCommandSchema.parse(data);
    await visible(this.projector, await this.kernel.handle('server', c.id, serverDecider, { type: 'remove_subuser', id: c.id, userId: c.user_id, actor: c.actor }, commandMeta(ctx)));
    return { id: c.id, user_id: c.user_id, removed: true };
  }

  /** One console line to the server's stdin (REST `POST /servers/:id/command`). */
  @MessagePattern(Subjects.command('nodes', 'server_command'))
  async command(@Payload() data: unknown): Promise<{ sent: true }> {
    const { id, command } = idSchema.extend(serverCommandSchema.shape).parse(data);
    const { state } = await this.store.load('server', id, serverDecider);
    assertServer(state, id);
    if (state.state !== 'running' && state.state !== 'starting') throw new ConflictError(`Server ${id} is ${state.state}; commands need a running server`, { state: state.state });
    await this.agents.request(state.node_id, 'write', { server_id: id, line: command }, 5000);
    return { sent: true };
  }
}

function grantView(serverId: string, userId: string, state: ServerState, version: number): SubuserGrantView {
  return { server_id: serverId, user_id: userId, permissions: [...(subuserGrant(state, userId)?.permissions ?? [])], version };
}
