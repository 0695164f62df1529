import { Logger } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import {
  agentPermissions,
  mintUserCreds,
  Projector,
  type AccountSigner,
  type AppendMeta,
  type EventStore,
  type Loaded,
  type Reducer,
} from '@encedeus/messaging';
import {
  DomainError,
  NotFoundError,
  renderStartup,
  WrongExpectedRevisionError,
  type AgentServerSpec,
  type CloudEvent,
  type JobView,
  type NewEvent,
  type NodeView,
  type ServerView,
  type TemplateView,
} from '@encedeus/contracts';
import { AgentClient } from './agents/agent-client';
import { KeyedMutex } from './common/keyed-mutex';
import { EnrollmentTokens } from './enrollment/enrollment-tokens';
import { Liveness } from './liveness/liveness';
import { FleetProjection, SCHEMA } from './projections/fleet.projection';
import { UsageCache } from './telemetry/usage-cache';
import { UsageHistoryReader } from './telemetry/usage-history';
import type { ServerState } from './domain/server.decider';

/** Options of the nodes service (NodesModule.forRoot). */
export interface NodesOptions {
  /** Account signer: mints each agent's NATS user at enrollment (and re-mints when its servers change). */
  signer: AccountSigner;
  /** NATS URL written into the enrollment command shown to operators. @default the service's own URL */
  publicNatsUrl: string;
  /** Lifetime of an enrollment token. @default 3600 */
  enrollmentTtlS?: number;
  /**
   * Lifetime of an agent's NATS credentials. Online agents get fresh ones when half of it is left
   * (their heartbeat says when theirs expire); an agent offline longer must enroll again.
   * @default 7 days
   */
  agentCredsTtlS?: number;
  liveness?: { missed?: number; defaultIntervalMs?: number; sweepMs?: number };
  /** Skip seeding built-in templates (tests of the seeding itself). @default false */
  skipBuiltInTemplates?: boolean;
}

export const NODES_OPTIONS = Symbol('NODES_OPTIONS');

/**
 * The shared machinery of the nodes service: event store helpers, the read model's projector,
 * per-server and per-node locks, the agent client, liveness and the usage cache.
 */
export class FleetCore {
  readonly logger = new Logger('nodes');
  readonly projector: Projector;
  readonly agents: AgentClient;
  readonly serverLocks = new KeyedMutex();
  readonly nodeLocks = new KeyedMutex();
  readonly tokens: EnrollmentTokens;
  readonly usage: UsageCache;
  readonly usageHistory: UsageHistoryReader;
  liveness!: Liveness;

  constructor(
    readonly nc: NatsConnection,
    readonly store: EventStore,
    readonly db: DataSource,
    readonly options: NodesOptions,
  ) {
    this.projector = new Projector(nc, db, new FleetProjection(), { batchSize: 500 });
    this.agents = new AgentClient(nc);
    this.tokens = new EnrollmentTokens(db);
    this.usage = new UsageCache(nc);
    this.usageHistory = new UsageHistoryReader(nc);
  }

  /**
   * Load → decide → append, retried once on a concurrent append (DESIGN.md §4), then waits until
   * the read model has the events so the caller reads its own writes.
   */
  async execute<S>(
    aggregate: string,
    id: string,
    reducer: Reducer<S>,
    decide: (state: S) => NewEvent[] | Promise<NewEvent[]>,
    meta: AppendMeta,
  ): Promise<{ state: S; events: NewEvent[]; version: number }> {
    for (let attempt = 0; ; attempt++) {
      const loaded = attempt === 0 ? await this.load(aggregate, id, reducer) : await this.reload(aggregate, id, reducer);
      const events = await decide(loaded.state);
      if (events.length === 0) return { state: loaded.state, events, version: loaded.revision.version };
      try {
        const result = await this.store.append(aggregate, id, loaded.revision, events, meta);
        const state = result.events.reduce((s, r) => reducer.evolve(s, r.event), loaded.state);
        this.remember(aggregate, id, reducer, { state, revision: result.revision });
        await this.settle(result.revision.sequence);
        return { state, events, version: result.revision.version };
      } catch (error) {
        this.cache.delete(`${reducer.name}:${aggregate}:${id}`);
        // Concurrent writers to one aggregate (e.g. liveness and a boot report) race; retry on a fresh load.
        if (error instanceof WrongExpectedRevisionError && attempt < 4) continue;
        if (error instanceof WrongExpectedRevisionError) throw new DomainError('CONFLICT', error.message, error.details);
        throw error;
      }
    }
  }

  /**
   * Aggregates this instance loaded or wrote, by reducer/aggregate/id (LRU-ish, bounded). Safe because
   * every append checks the expected revision: a stale entry makes the append fail, the entry is
   * dropped and the command retried on a fresh load. Assumes one nodes instance decides (see docs/fleet.md).
   */
  private readonly cache = new Map<string, Loaded<unknown>>();

  async load<S>(aggregate: string, id: string, reducer: Reducer<S>): Promise<Loaded<S>> {
    const cached = this.cache.get(`${reducer.name}:${aggregate}:${id}`);
    if (cached) return cached as Loaded<S>;
    return this.reload(aggregate, id, reducer);
  }

  private async reload<S>(aggregate: string, id: string, reducer: Reducer<S>): Promise<Loaded<S>> {
    const loaded = await this.store.load(aggregate, id, reducer);
    if (loaded.revision.version > 0) this.remember(aggregate, id, reducer, loaded);
    return loaded;
  }

  private remember<S>(aggregate: string, id: string, reducer: Reducer<S>, loaded: Loaded<S>): void {
    const key = `${reducer.name}:${aggregate}:${id}`;
    this.cache.delete(key);
    this.cache.set(key, loaded as Loaded<unknown>);
    if (this.cache.size > 50_000) this.cache.delete(this.cache.keys().next().value!);
  }

  /** Waits (bounded) until the read model applied `sequence`. */
  async settle(sequence: number): Promise<void> {
    await this.projector.waitFor(sequence, 5000);
  }

  /** Mints an agent's NATS user: its own subjects plus the consoles of the servers it runs. */
  async mintAgentCreds(nodeId: string, include: string[] = []): Promise<string> {
    const rows: { id: string }[] = await this.db.query(`select id from ${SCHEMA}.servers where node_id = $1 order by id`, [nodeId]);
    // `include`: servers just created, which the read model may not have applied yet.
    const ids = [...new Set([...rows.map((r) => r.id), ...include])].sort();
    return mintUserCreds(this.options.signer, `agent-${nodeId}`, agentPermissions(nodeId, ids), { expiresInSeconds: this.agentCredsTtlS });
  }

  get agentCredsTtlS(): number {
    return this.options.agentCredsTtlS ?? 7 * 24 * 3600;
  }

  private readonly renewals = new Map<string, number>();

  /** From a heartbeat: re-mints the agent's credentials once less than half of their lifetime is left. */
  renewAgentCredsIfDue(nodeId: string, credsExpiresAt: number | undefined): void {
    const now = Date.now();
    if (!credsExpiresAt || credsExpiresAt - now > (this.agentCredsTtlS * 1000) / 2) return;
    // At most one attempt per node per tenth of the lifetime (10 min at most): heartbeats keep asking until it took.
    const last = this.renewals.get(nodeId);
    if (last !== undefined && now - last < Math.min(600_000, (this.agentCredsTtlS * 1000) / 10)) return;
    this.renewals.set(nodeId, now);
    void this.refreshAgentCreds(nodeId).then((ok) => ok && this.logger.log(`renewed the credentials of node ${nodeId}`));
  }

  /** Sends fresh credentials to an online agent after its server set changed (best effort). */
  async refreshAgentCreds(nodeId: string, include: string[] = []): Promise<boolean> {
    if (!this.liveness.isOnline(nodeId)) return false;
    try {
      const reply = await this.agents.request<{ reconnecting?: boolean; generation?: number }>(
        nodeId,
        'credentials',
        { creds: await this.mintAgentCreds(nodeId, include) },
        10_000,
      );
      if (reply.reconnecting) await this.waitAgentReconnected(nodeId, reply.generation ?? 0);
      return true;
    } catch (error) {
      this.logger.warn(`could not refresh credentials of node ${nodeId}: ${(error as Error).message}`);
      return false;
    }
  }

  /**
   * After new permissions the agent reconnects; a command sent meanwhile could be answered on the
   * new connection, which NATS refuses (replies must leave on the connection the request came in).
   * So wait until a ping answers from the new connection (its generation moved on).
   */
  private async waitAgentReconnected(nodeId: string, generation: number): Promise<void> {
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      const pong = await this.agents.request<{ generation?: number }>(nodeId, 'ping', {}, 500).catch(() => undefined);
      if (pong && (pong.generation ?? 0) > generation) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    this.logger.warn(`agent of node ${nodeId} did not confirm its reconnect with new credentials`);
  }

  // ---------- read model

  async nodeRow(id: string): Promise<Record<string, any> | undefined> {
    const rows = await this.db.query(`select * from ${SCHEMA}.nodes where id = $1`, [id]);
    return rows[0];
  }

  async allocations(nodeIds?: string[]): Promise<Map<string, NodeView['allocated']>> {
    const rows: any[] = await this.db.query(
      `select node_id, coalesce(sum((limits->>'memory_mb')::int),0)::int as memory_mb, coalesce(sum((limits->>'cpu_percent')::int),0)::int as cpu_percent,
              coalesce(sum((limits->>'disk_mb')::int),0)::int as disk_mb, count(*)::int as servers
         from ${SCHEMA}.servers ${nodeIds ? 'where node_id = any($1)' : ''} group by node_id`,
      nodeIds ? [nodeIds] : [],
    );
    return new Map(rows.map((r) => [r.node_id, { memory_mb: r.memory_mb, cpu_percent: r.cpu_percent, disk_mb: r.disk_mb, servers: r.servers }]));
  }

  nodeView(row: Record<string, any>, allocated?: NodeView['allocated']): NodeView {
    const seen = this.liveness.lastSeen(row.id);
    const storage = row.storage_size;
    return {
      id: row.id,
      name: row.name,
      memory_mb: row.memory_mb,
      cpu_percent: row.cpu_percent,
      storage_size: /^\d+$/.test(storage) ? Number(storage) : storage,
      storage_mb: row.storage_mb,
      tags: row.tags,
      state: this.liveness.isOnline(row.id) ? 'online' : 'offline',
      enrolled: row.enrolled,
      draining: row.draining,
      spec: row.spec ?? null,
      allocated: allocated ?? { memory_mb: 0, cpu_percent: 0, disk_mb: 0, servers: 0 },
      lastSeenAt: (seen ?? row.last_seen_at)?.toISOString?.() ?? (row.last_seen_at ? new Date(row.last_seen_at).toISOString() : null),
      createdAt: new Date(row.created_at).toISOString(),
      version: row.version,
    };
  }

  async getNodeView(id: string): Promise<NodeView> {
    const row = await this.nodeRow(id);
    if (!row) throw new NotFoundError('Node', id);
    return this.nodeView(row, (await this.allocations([id])).get(id));
  }

  templateView(row: Record<string, any>): TemplateView {
    return { id: row.id, ...row.data, builtIn: row.built_in, version: row.version };
  }

  async getTemplateView(id: string): Promise<TemplateView> {
    const rows = await this.db.query(`select * from ${SCHEMA}.templates where id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError('Template', id);
    return this.templateView(rows[0]);
  }

  serverView(row: Record<string, any>): ServerView {
    const up = row.state === 'running' || row.state === 'starting' || row.state === 'stopping';
    return {
      id: row.id,
      name: row.name,
      template_id: row.template_id,
      node_id: row.node_id,
      owner_id: row.owner_id,
      state: row.state,
      desired: row.desired,
      limits: row.limits,
      variables: row.variables,
      ports: row.ports,
      usage: up ? (this.usage.server(row.id) ?? null) : null,
      last_exit: row.last_exit ?? null,
      createdAt: new Date(row.created_at).toISOString(),
      version: row.version,
    };
  }

  async getServerView(id: string): Promise<ServerView> {
    const rows = await this.db.query(`select * from ${SCHEMA}.servers where id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError('Server', id);
    return this.serverView(rows[0]);
  }

  jobView(row: Record<string, any>): JobView {
    return {
      id: row.id,
      runtime: row.runtime,
      status: row.status,
      stdout: row.stdout,
      stderr: row.stderr,
      exit_code: row.exit_code,
      execution_time_ms: row.execution_time_ms,
      node_id: row.node_id,
      owner_id: row.owner_id,
      createdAt: new Date(row.created_at).toISOString(),
      finishedAt: row.finished_at ? new Date(row.finished_at).toISOString() : null,
    };
  }

  async getJobView(id: string): Promise<JobView> {
    const rows = await this.db.query(`select * from ${SCHEMA}.jobs where id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError('Job', id);
    return this.jobView(rows[0]);
  }
}

/** What the agent needs to run a server, rendered from the server aggregate. */
export function agentServerSpec(id: string, s: ServerState): AgentServerSpec {
  const t = s.template!;
  const port = s.ports[0]?.host;
  const values: Record<string, string> = {
    ...s.variables,
    SERVER_MEMORY: String(s.limits.memory_mb),
    SERVER_PORT: port ? String(port) : '',
    SERVER_ID: id,
  };
  return {
    id,
    driver: t.driver,
    image: t.image,
    startup: renderStartup(t.startup, values),
    env: { ...values, ...(port ? { SERVER_IP: '0.0.0.0' } : {}) },
    limits: s.limits,
    ports: s.ports,
    stop: t.stop,
    ready_pattern: t.ready_pattern,
    install_script: t.install_script,
    desired: s.desired,
  };
}

/** Every event carries who caused it; an event of the node's own agent is `agent:<nodeId>`. */
export const agentActor = (nodeId: string) => `agent:${nodeId}`;

export type { CloudEvent };
