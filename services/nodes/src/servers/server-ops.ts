import { randomUUID } from 'node:crypto';
import {
  ConflictError,
  createServerSchema,
  DomainError,
  event,
  resolveVariables,
  ServerCreated,
  ServerDeleted,
  ServerInstallStarted,
  ServerRestarted,
  ServerUpdated,
  ServiceUnavailableError,
  updateServerSchema,
  ValidationError,
  type ExitFacts,
  type ObservedServer,
  type PowerAction,
  type PowerReply,
  type ServerView,
} from '@encedeus/contracts';
import type { AppendMeta as AppendMetaLike } from '@encedeus/messaging';
import { agentActor, agentServerSpec, FleetCore } from '../fleet-core';
import {
  assertServer,
  decideAfterPower,
  decideExited,
  decideInstalled,
  decideObserved,
  decidePower,
  decideReady,
  decideStarted,
  serverReducer,
} from '../domain/server.decider';
import { assertTemplate, templateReducer } from '../domain/template.decider';
import { SCHEMA } from '../projections/fleet.projection';
import { actorUserId } from '../common/meta';

/**
 * Everything that changes a server. Every path (REST command, agent report, restart timer) runs
 * under the server's mutex, so power actions, reports and reconciliation never interleave.
 */
/** Delays before retrying an install the agent could not be reached for. */
const INSTALL_RETRIES_MS = [1000, 3000, 10_000];

export class ServerOps {
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly installRetries = new Map<string, NodeJS.Timeout>();

  constructor(private readonly fleet: FleetCore) {}

  close(): void {
    for (const t of [...this.restartTimers.values(), ...this.installRetries.values()]) clearTimeout(t);
    this.restartTimers.clear();
    this.installRetries.clear();
  }

  async create(data: unknown, meta: AppendMetaLike): Promise<ServerView> {
    const cmd = createServerSchema.parse(data);
    const { state: template } = await this.fleet.load('template', cmd.template_id, templateReducer);
    assertTemplate(template, cmd.template_id);
    const t = template.data;
    const { values, violations } = resolveVariables(t.variables, cmd.variables);
    if (violations.length) throw new ValidationError(`Invalid variable ${violations.map((v) => v.path.replace('variables.', '')).join(', ')}: ${violations[0].message}`, violations);
    const limits = { ...t.limits, ...cmd.limits };
    if (t.driver === 'process') {
      const remapped = cmd.ports.find((p) => p.host !== p.container);
      if (remapped) throw new ValidationError('The process driver cannot remap ports', [{ path: 'ports', message: `host ${remapped.host} ≠ container ${remapped.container}` }]);
    }
    const id = randomUUID();
    const nodeId = cmd.node_id ?? (await this.place(limits.memory_mb, limits.disk_mb, t.driver));
    await this.fleet.nodeLocks.run(nodeId, async () => {
      await this.checkCapacity(nodeId, limits.memory_mb, limits.disk_mb, !!cmd.node_id);
      return this.fleet.execute('server', id, serverReducer, () => [
        event(ServerCreated, {
          name: cmd.name,
          template_id: cmd.template_id,
          node_id: nodeId,
          owner_id: cmd.owner_id ?? actorUserId(meta.actor),
          limits,
          variables: values,
          ports: cmd.ports,
          template: t,
        }),
        event(ServerInstallStarted, {}),
      ], meta);
    });
    await this.install(id, nodeId, meta);
    return this.fleet.getServerView(id);
  }

  /**
   * Asks the agent to prepare the server (new credentials first so it may use the console subjects).
   * When the agent cannot be reached (it may be between two connections after new credentials), the
   * install is retried in the background a few times; after that the agent's next sync installs it.
   */
  private async install(id: string, nodeId: string, meta: AppendMetaLike, attempt = 0): Promise<void> {
    if (!this.fleet.liveness.isOnline(nodeId)) return; // the next sync installs it
    if (attempt === 0) await this.fleet.refreshAgentCreds(nodeId, [id]);
    const retry = await this.fleet.serverLocks.run(id, async () => {
      const { state: now } = await this.fleet.load('server', id, serverReducer);
      if (!now.exists || now.deleted || now.state !== 'installing') return false;
      try {
        const reply = await this.fleet.agents.request<{ installed: boolean; error?: string }>(nodeId, 'create_server', { server: agentServerSpec(id, now) }, 120_000);
        await this.fleet.execute('server', id, serverReducer, (s) => decideInstalled(s, reply.installed, reply.error), meta);
        return false;
      } catch (error) {
        this.fleet.logger.warn(`install of server ${id} on node ${nodeId} (attempt ${attempt + 1}): ${(error as Error).message}`);
        return (error as DomainError).code === 'SERVICE_UNAVAILABLE' && attempt < INSTALL_RETRIES_MS.length;
      }
    });
    if (retry) {
      const timer = setTimeout(() => {
        this.installRetries.delete(id);
        void this.install(id, nodeId, meta, attempt + 1);
      }, INSTALL_RETRIES_MS[attempt]);
      this.installRetries.set(id, timer);
    }
  }

  /** The online, undrained node with most free memory that fits. */
  private async place(memoryMb: number, diskMb: number, driver: string): Promise<string> {
    const rows: any[] = await this.fleet.db.query(`select * from ${SCHEMA}.nodes where not draining`);
    const allocations = await this.fleet.allocations();
    const candidates = rows
      .filter((n) => this.fleet.liveness.isOnline(n.id))
      .filter((n) => !n.spec || (n.spec.drivers ?? []).includes(driver))
      .map((n) => {
        const a = allocations.get(n.id);
        return { id: n.id, freeMemory: n.memory_mb - (a?.memory_mb ?? 0), freeDisk: n.storage_mb - (a?.disk_mb ?? 0), storage: n.storage_mb };
      })
      .sort((a, b) => b.freeMemory - a.freeMemory);
    if (candidates.length === 0) throw new ServiceUnavailableError(`No online node can run ${driver} servers`, { driver });
    const fit = candidates.find((c) => c.freeMemory >= memoryMb && (c.storage === 0 || c.freeDisk >= diskMb));
    if (!fit) {
      throw new DomainError('INSUFFICIENT_CAPACITY', `No node has ${memoryMb} MB of memory free (most free: ${candidates[0].freeMemory} MB on node ${candidates[0].id})`, {
        requested_memory_mb: memoryMb,
        best_free_memory_mb: candidates[0].freeMemory,
        node_id: candidates[0].id,
      });
    }
    return fit.id;
  }

  private async checkCapacity(nodeId: string, memoryMb: number, diskMb: number, explicit: boolean, excludeServer?: string): Promise<void> {
    const node = await this.fleet.nodeRow(nodeId);
    if (!node) throw new DomainError('NOT_FOUND', `Node ${nodeId} was not found`, { id: nodeId });
    if (explicit && node.draining && !excludeServer) throw new ConflictError(`Node ${nodeId} is draining; no new servers are placed on it`);
    const [row] = await this.fleet.db.query(
      `select coalesce(sum((limits->>'memory_mb')::int),0)::int as memory_mb, coalesce(sum((limits->>'disk_mb')::int),0)::int as disk_mb
         from ${SCHEMA}.servers where node_id = $1 and id <> $2`,
      [nodeId, excludeServer ?? '00000000-0000-0000-0000-000000000000'],
    );
    const freeMemory = node.memory_mb - row.memory_mb;
    if (memoryMb > freeMemory) {
      throw new DomainError('INSUFFICIENT_CAPACITY', `Node ${node.name} has ${freeMemory} MB of memory free of ${node.memory_mb} MB; the server needs ${memoryMb} MB`, {
        node_id: nodeId,
        requested_memory_mb: memoryMb,
        free_memory_mb: freeMemory,
        total_memory_mb: node.memory_mb,
        allocated_memory_mb: row.memory_mb,
      });
    }
    const freeDisk = node.storage_mb - row.disk_mb;
    if (node.storage_mb > 0 && diskMb > freeDisk) {
      throw new DomainError('INSUFFICIENT_CAPACITY', `Node ${node.name} has ${freeDisk} MB of disk free of ${node.storage_mb} MB; the server needs ${diskMb} MB`, {
        node_id: nodeId,
        requested_disk_mb: diskMb,
        free_disk_mb: freeDisk,
        total_disk_mb: node.storage_mb,
      });
    }
  }

  async update(id: string, data: unknown, meta: AppendMetaLike): Promise<ServerView> {
    const patch = updateServerSchema.parse(data);
    await this.fleet.serverLocks.run(id, async () => {
      const { state } = await this.fleet.load('server', id, serverReducer);
      assertServer(state, id);
      const changed: Record<string, unknown> = {};
      if (patch.name !== undefined && patch.name !== state.name) changed.name = patch.name;
      if (patch.limits) {
        const limits = { ...state.limits, ...patch.limits };
        if (JSON.stringify(limits) !== JSON.stringify(state.limits)) {
          await this.fleet.nodeLocks.run(state.node_id, () => this.checkCapacity(state.node_id, limits.memory_mb, limits.disk_mb, true, id));
          changed.limits = limits;
        }
      }
      if (patch.variables) {
        const { values, violations } = resolveVariables(state.template!.variables, { ...state.variables, ...patch.variables });
        if (violations.length) throw new ValidationError(`Invalid variable ${violations.map((v) => v.path.replace('variables.', '')).join(', ')}: ${violations[0].message}`, violations);
        if (JSON.stringify(values) !== JSON.stringify(state.variables)) changed.variables = values;
      }
      if (patch.ports && JSON.stringify(patch.ports) !== JSON.stringify(state.ports)) changed.ports = patch.ports;
      if (Object.keys(changed).length === 0) return;
      await this.fleet.execute('server', id, serverReducer, (s) => {
        assertServer(s, id);
        return [event(ServerUpdated, changed)];
      }, meta);
    });
    return this.fleet.getServerView(id);
  }

  async remove(id: string, meta: AppendMetaLike): Promise<{ id: string; deleted: true }> {
    const nodeId = await this.fleet.serverLocks.run(id, async () => {
      const { state } = await this.fleet.load('server', id, serverReducer);
      assertServer(state, id);
      this.cancelRestart(id);
      if (this.fleet.liveness.isOnline(state.node_id)) {
        await this.fleet.agents.request(state.node_id, 'remove_server', { server_id: id }, (state.template!.stop.timeout_s * 2 + 20) * 1000);
      }
      // An offline agent removes the files at its next sync: the server is not in its desired set any more.
      await this.fleet.execute('server', id, serverReducer, (s) => (s.exists && !s.deleted ? [event(ServerDeleted, {})] : []), meta);
      return state.node_id;
    });
    this.fleet.usage.forgetServer(id);
    await this.fleet.refreshAgentCreds(nodeId);
    return { id, deleted: true };
  }

  /** A power action: decide, tell the agent, record what it did; serialized per server. */
  power(id: string, action: PowerAction, meta: AppendMetaLike): Promise<ServerView & { action: PowerAction }> {
    return this.fleet.serverLocks.run(id, async () => {
      const view = await this.powerLocked(id, action, meta);
      return { ...view, action };
    });
  }

  private async powerLocked(id: string, action: PowerAction, meta: AppendMetaLike): Promise<ServerView> {
    const { state: current } = await this.fleet.load('server', id, serverReducer);
    assertServer(current, id);
    if (!this.fleet.liveness.isOnline(current.node_id)) {
      throw new ServiceUnavailableError(`Node ${current.node_id} is offline; the server cannot be ${action === 'stop' ? 'stopped' : action + 'ed'} now`, { node_id: current.node_id });
    }
    if (action !== 'kill' || current.desired !== 'stopped') this.cancelRestart(id);
    const { state } = await this.fleet.execute('server', id, serverReducer, (s) => decidePower(s, id, action), meta);
    const stop = state.template!.stop;
    const timeoutMs = action === 'start' || action === 'kill' ? 30_000 : (stop.timeout_s * 2 + 30) * 1000;
    // If this request fails it may still have reached the agent: its reports (started/exited) correct the state.
    const reply = await this.fleet.agents.request<PowerReply>(state.node_id, 'power', { server_id: id, action, spec: agentServerSpec(id, state) }, timeoutMs);
    await this.fleet.execute('server', id, serverReducer, (s) => decideAfterPower(s, action, reply), meta);
    return this.fleet.getServerView(id);
  }

  /** One console line to the server's stdin (REST `POST /servers/:id/command`). */
  async command(id: string, line: string): Promise<{ sent: true }> {
    const { state } = await this.fleet.load('server', id, serverReducer);
    assertServer(state, id);
    if (state.state !== 'running' && state.state !== 'starting') throw new ConflictError(`Server ${id} is ${state.state}; commands need a running server`, { state: state.state });
    await this.fleet.agents.request(state.node_id, 'write', { server_id: id, line }, 5000);
    return { sent: true };
  }

  // ---------- facts reported by agents

  ready(nodeId: string, id: string, runId: string): Promise<unknown> {
    return this.fleet.serverLocks.run(id, () => this.fleet.execute('server', id, serverReducer, (s) => (s.node_id === nodeId ? decideReady(s, runId) : []), { actor: agentActor(nodeId) }));
  }

  started(nodeId: string, id: string, runId: string): Promise<unknown> {
    return this.fleet.serverLocks.run(id, () => this.fleet.execute('server', id, serverReducer, (s) => (s.node_id === nodeId ? decideStarted(s, runId) : []), { actor: agentActor(nodeId) }));
  }

  installed(nodeId: string, id: string, success: boolean, error?: string): Promise<unknown> {
    return this.fleet.serverLocks.run(id, () =>
      this.fleet.execute('server', id, serverReducer, (s) => (s.node_id === nodeId ? decideInstalled(s, success, error) : []), { actor: agentActor(nodeId) }),
    );
  }

  exited(nodeId: string, id: string, facts: ExitFacts & { run_id: string | null }): Promise<unknown> {
    return this.fleet.serverLocks.run(id, async () => {
      const result = await this.fleet.execute('server', id, serverReducer, (s) => (s.node_id === nodeId ? decideExited(s, facts) : []), { actor: agentActor(nodeId) });
      this.afterCrash(id, result.events);
    });
  }

  /**
   * Reconciles one server after an agent sync. `seenAtVersion` is the aggregate version when the sync
   * was sent: if anything happened since (a power action raced the sync), the observation is stale
   * and the agent's own reports tell the rest.
   */
  observed(nodeId: string, o: ObservedServer & { exit?: ExitFacts }, seenAtVersion: number): Promise<unknown> {
    return this.fleet.serverLocks.run(o.id, async () => {
      const { revision } = await this.fleet.load('server', o.id, serverReducer);
      if (revision.version !== seenAtVersion) return;
      const result = await this.fleet.execute(
        'server',
        o.id,
        serverReducer,
        (s) => {
          if (s.node_id !== nodeId) return [];
          const events = o.installed ? decideInstalled(s, true) : [];
          const after = events.reduce((st, e) => serverReducer.evolve(st, e as never), s);
          return [...events, ...decideObserved(after, o)];
        },
        { actor: agentActor(nodeId) },
      );
      this.afterCrash(o.id, result.events);
    });
  }

  private afterCrash(id: string, events: { type: string; data: unknown }[]): void {
    const crash = events.find((e) => e.type === 'server.crashed')?.data as { will_restart?: boolean; restart_in_ms?: number; attempt?: number } | undefined;
    if (!crash?.will_restart) return;
    this.cancelRestart(id);
    const timer = setTimeout(() => {
      this.restartTimers.delete(id);
      void this.restartByPolicy(id, crash.attempt ?? 1).catch((error) => this.fleet.logger.warn(`restart of ${id}: ${(error as Error).message}`));
    }, crash.restart_in_ms ?? 1000);
    timer.unref();
    this.restartTimers.set(id, timer);
  }

  private cancelRestart(id: string): void {
    const timer = this.restartTimers.get(id);
    if (timer) clearTimeout(timer);
    this.restartTimers.delete(id);
  }

  private restartByPolicy(id: string, attempt: number): Promise<unknown> {
    return this.fleet.serverLocks.run(id, async () => {
      const { state } = await this.fleet.load('server', id, serverReducer);
      if (!state.exists || state.deleted || state.state !== 'crashed' || state.desired !== 'running') return;
      const meta = { actor: 'service:nodes' };
      const restarted = await this.fleet.execute('server', id, serverReducer, () => [event(ServerRestarted, { by: 'policy', attempt })], meta);
      const reply = await this.fleet.agents.request<PowerReply>(state.node_id, 'power', { server_id: id, action: 'start', spec: agentServerSpec(id, restarted.state) }, 30_000);
      await this.fleet.execute('server', id, serverReducer, (s) => decideAfterPower(s, 'start', reply), meta);
    });
  }
}

