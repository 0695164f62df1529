import type { DataSource } from 'typeorm';
import { NotFoundError, type JobView, type Limits, type NodeSpec, type NodeView, type Port, type ServerState as ServerStateName, type ServerUsage, type ServerView, type TemplateView } from '@encedeus/contracts';
import type { Liveness } from '../liveness/liveness';
import type { UsageCache } from '../telemetry/usage-cache';
import { SCHEMA } from '../projections/fleet.projection';
import type { NodeCapacity } from '../domain/placement';
import type { ServerState } from '../domain/server.decider';
import type { TemplateState } from '../domain/template.decider';
import type { JobState } from '../domain/job.decider';
import type { NodeState } from '../domain/node.decider';

/** A row of `nodes.nodes`. */
export interface NodeRow {
  id: string;
  name: string;
  memory_mb: number;
  cpu_percent: number;
  storage_size: string;
  storage_mb: number;
  tags: string[];
  draining: boolean;
  enrolled: boolean;
  online: boolean;
  spec: NodeSpec | null;
  last_seen_at: Date | null;
  created_at: Date;
  version: number;
}

/** A row of `nodes.templates`: the template's fields are in `data`. */
export interface TemplateRow {
  id: string;
  name: string;
  data: Omit<TemplateView, 'id' | 'builtIn' | 'version'>;
  built_in: boolean;
  created_at: Date;
  version: number;
}

/** A row of `nodes.servers` (the server aggregate's state, see rowToServerState). */
export interface ServerRow {
  id: string;
  name: string;
  template_id: string;
  node_id: string;
  owner_id: string;
  state: ServerStateName;
  desired: 'running' | 'stopped';
  run_id: string | null;
  limits: Limits;
  variables: Record<string, string>;
  ports: Port[];
  template: ServerState['template'];
  crashes: number;
  last_exit: ServerState['lastExit'];
  restart_due_at: Date | null;
  install_due_at: Date | null;
  install_attempts: number;
  /** Sub-users and their grants (docs/subusers.md). */
  subusers: ServerState['subusers'];
  /** The server's own startup line; null: its template's. */
  startup: string | null;
  created_at: Date;
  version: number;
}

/** A row of `nodes.jobs`. */
export interface JobRow {
  id: string;
  runtime: JobView['runtime'];
  status: JobView['status'];
  stdout: string;
  stderr: string;
  exit_code: number | null;
  execution_time_ms: number | null;
  node_id: string;
  owner_id: string;
  created_at: Date;
  finished_at: Date | null;
  version: number;
}

export type Allocation = NodeView['allocated'];
const NONE: Allocation = { memory_mb: 0, cpu_percent: 0, disk_mb: 0, servers: 0 };
const iso = (value: Date | string | null | undefined): string | null => (value ? new Date(value).toISOString() : null);

/** Builds the public views, from a read-model row or from an aggregate's decided state. */
export class FleetViews {
  constructor(
    private readonly liveness: Pick<Liveness, 'isOnline' | 'lastSeen'>,
    private readonly usage: Pick<UsageCache, 'server'>,
  ) {}

  node(row: NodeRow, allocated?: Allocation): NodeView {
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
      allocated: allocated ?? NONE,
      lastSeenAt: iso(seen ?? row.last_seen_at),
      createdAt: iso(row.created_at)!,
      version: row.version,
    };
  }

  /** A node's view from its decided state (the reply of a node command). */
  nodeFromState(id: string, s: NodeState, version: number, allocated?: Allocation): NodeView {
    return this.node(
      {
        id,
        name: s.name,
        memory_mb: s.memory_mb,
        cpu_percent: s.cpu_percent,
        storage_size: String(s.storage_size),
        storage_mb: s.storage_mb,
        tags: s.tags,
        draining: s.draining,
        enrolled: s.enrolled,
        online: s.online,
        spec: s.spec,
        last_seen_at: null,
        created_at: new Date(s.createdAt ?? 0),
        version,
      },
      allocated,
    );
  }

  template(row: TemplateRow): TemplateView {
    return { id: row.id, ...row.data, builtIn: row.built_in, version: row.version } as TemplateView;
  }

  templateFromState(id: string, s: TemplateState, version: number): TemplateView {
    return { id, ...s.data, builtIn: s.builtIn, version } as TemplateView;
  }

  server(row: ServerRow): ServerView {
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
      usage: up ? ((this.usage.server(row.node_id, row.id) as ServerUsage | undefined) ?? null) : null,
      last_exit: row.last_exit ?? null,
      startup: row.startup ?? row.template?.startup ?? '',
      startup_editable: row.template?.startup_editable === true,
      subusers: row.subusers ?? [],
      createdAt: iso(row.created_at)!,
      version: row.version,
    };
  }

  /** A server's view from its decided state (the reply of a server command). */
  serverFromState(id: string, s: ServerState, version: number): ServerView {
    return this.server({
      id,
      name: s.name,
      template_id: s.template_id,
      node_id: s.node_id,
      owner_id: s.owner_id,
      state: s.state,
      desired: s.desired,
      run_id: s.runId,
      limits: s.limits,
      variables: s.variables,
      ports: s.ports,
      template: s.template,
      crashes: s.crashes,
      last_exit: s.lastExit,
      restart_due_at: null,
      install_due_at: null,
      install_attempts: s.installAttempts,
      subusers: s.subusers,
      startup: s.startup ?? null,
      created_at: new Date(s.createdAt ?? 0),
      version,
    });
  }

  job(row: JobRow): JobView {
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
      createdAt: iso(row.created_at)!,
      finishedAt: iso(row.finished_at),
    };
  }

  jobFromState(id: string, s: JobState, version: number): JobView {
    return this.job({
      id,
      runtime: s.runtime as JobView['runtime'],
      status: s.status,
      stdout: s.stdout,
      stderr: s.stderr,
      exit_code: s.exitCode,
      execution_time_ms: s.executionTimeMs,
      node_id: s.nodeId,
      owner_id: s.ownerId,
      created_at: new Date(s.createdAt ?? 0),
      finished_at: s.finishedAt ? new Date(s.finishedAt) : null,
      version,
    });
  }
}

/** Typed reads of the `nodes` schema for commands, process managers and queries. */
export class FleetReadModel {
  readonly views: FleetViews;

  constructor(
    readonly db: DataSource,
    private readonly liveness: Pick<Liveness, 'isOnline' | 'lastSeen'>,
    usage: Pick<UsageCache, 'server'>,
  ) {
    this.views = new FleetViews(liveness, usage);
  }

  async nodeRow(id: string): Promise<NodeRow | undefined> {
    const rows: NodeRow[] = await this.db.query(`select * from ${SCHEMA}.nodes where id = $1`, [id]);
    return rows[0];
  }

  /** What the servers on each node take (all nodes, or those given); `excludeServer` leaves one out (a server being resized). */
  async allocations(nodeIds?: string[], excludeServer?: string): Promise<Map<string, Allocation>> {
    const params: unknown[] = [excludeServer ?? '00000000-0000-0000-0000-000000000000'];
    const rows: (Allocation & { node_id: string })[] = await this.db.query(
      `select node_id, coalesce(sum((limits->>'memory_mb')::int),0)::int as memory_mb, coalesce(sum((limits->>'cpu_percent')::int),0)::int as cpu_percent,
              coalesce(sum((limits->>'disk_mb')::int),0)::int as disk_mb, count(*)::int as servers
         from ${SCHEMA}.servers where id <> $1 ${nodeIds ? `and node_id = any($${params.push(nodeIds)})` : ''} group by node_id`,
      params,
    );
    return new Map(rows.map((r) => [r.node_id, { memory_mb: r.memory_mb, cpu_percent: r.cpu_percent, disk_mb: r.disk_mb, servers: r.servers }]));
  }

  private capacityOf(row: NodeRow, allocated: Allocation | undefined): NodeCapacity {
    return {
      id: row.id,
      name: row.name,
      memory_mb: row.memory_mb,
      cpu_percent: row.cpu_percent,
      storage_mb: row.storage_mb,
      draining: row.draining,
      online: this.liveness.isOnline(row.id),
      drivers: row.spec ? ((row.spec as { drivers?: string[] }).drivers ?? []) : null,
      allocated: allocated ?? NONE,
    };
  }

  /** One node's capacity for a capacity check; 404 when the node does not exist. */
  async nodeCapacity(id: string, excludeServer?: string): Promise<NodeCapacity> {
    const row = await this.nodeRow(id);
    if (!row) throw new NotFoundError('Node', id);
    return this.capacityOf(row, (await this.allocations([id], excludeServer)).get(id));
  }

  /** Every undrained node's capacity (automatic placement). */
  async placeableNodes(): Promise<NodeCapacity[]> {
    const rows: NodeRow[] = await this.db.query(`select * from ${SCHEMA}.nodes where not draining`);
    const allocations = await this.allocations();
    return rows.map((r) => this.capacityOf(r, allocations.get(r.id)));
  }

  /** Undrained nodes with the runtimes they offer (job placement). */
  async jobNodes(): Promise<{ id: string; online: boolean; draining: boolean; runtimes: string[] | null }[]> {
    const rows: Pick<NodeRow, 'id' | 'spec'>[] = await this.db.query(`select id, spec from ${SCHEMA}.nodes where not draining`);
    return rows.map((r) => ({ id: r.id, online: this.liveness.isOnline(r.id), draining: false, runtimes: (r.spec as { runtimes?: string[] } | null)?.runtimes ?? null }));
  }

  async serversOnNode(nodeId: string): Promise<ServerRow[]> {
    return this.db.query(`select * from ${SCHEMA}.servers where node_id = $1 order by id`, [nodeId]);
  }

  async countServersOnNode(nodeId: string): Promise<number> {
    const [{ count }] = await this.db.query(`select count(*)::int as count from ${SCHEMA}.servers where node_id = $1`, [nodeId]);
    return count;
  }

  async countServersUsingTemplate(templateId: string): Promise<number> {
    const [{ count }] = await this.db.query(`select count(*)::int as count from ${SCHEMA}.servers where template_id = $1`, [templateId]);
    return count;
  }

  /** Servers whose install (re)try is due, on nodes the read model believes online. */
  async installsDue(now: Date, limit = 100): Promise<Pick<ServerRow, 'id' | 'node_id'>[]> {
    return this.db.query(
      `select s.id, s.node_id from ${SCHEMA}.servers s join ${SCHEMA}.nodes n on n.id = s.node_id
        where s.state = 'installing' and s.install_due_at <= $1 and n.online order by s.install_due_at limit $2`,
      [now, limit],
    );
  }

  /** Installing servers of offline nodes created at least `deadlineS` before `now` (their install ends install_failed). */
  async installsOverdue(now: Date, deadlineS: number, limit = 100): Promise<Pick<ServerRow, 'id' | 'node_id'>[]> {
    return this.db.query(
      `select s.id, s.node_id from ${SCHEMA}.servers s join ${SCHEMA}.nodes n on n.id = s.node_id
        where s.install_due_at is not null and s.state = 'installing' and not n.online and s.created_at <= $1 order by s.created_at limit $2`,
      [new Date(now.getTime() - deadlineS * 1000), limit],
    );
  }

  /** Crashed servers whose policy restart is due. */
  async restartsDue(now: Date, limit = 100): Promise<Pick<ServerRow, 'id' | 'node_id'>[]> {
    return this.db.query(
      `select id, node_id from ${SCHEMA}.servers where state = 'crashed' and desired = 'running' and restart_due_at <= $1 order by restart_due_at limit $2`,
      [now, limit],
    );
  }

  async getNodeView(id: string): Promise<NodeView> {
    const row = await this.nodeRow(id);
    if (!row) throw new NotFoundError('Node', id);
    return this.views.node(row, (await this.allocations([id])).get(id));
  }

  async getTemplateView(id: string): Promise<TemplateView> {
    const rows: TemplateRow[] = await this.db.query(`select * from ${SCHEMA}.templates where id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError('Template', id);
    return this.views.template(rows[0]);
  }

  async getServerView(id: string): Promise<ServerView> {
    const rows: ServerRow[] = await this.db.query(`select * from ${SCHEMA}.servers where id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError('Server', id);
    return this.views.server(rows[0]);
  }

  async getJobView(id: string): Promise<JobView> {
    const rows: JobRow[] = await this.db.query(`select * from ${SCHEMA}.jobs where id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError('Job', id);
    return this.views.job(rows[0]);
  }
}
