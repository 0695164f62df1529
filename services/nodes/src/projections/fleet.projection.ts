import type { EntityManager } from 'typeorm';
import type { Projection } from '@encedeus/messaging';
import type { CloudEvent, RecordedEvent } from '@encedeus/contracts';
import { evolveServer, initialServer, type ServerState } from '../domain/server.decider';

export const SCHEMA = 'nodes';

/**
 * Read model of the fleet in schema `nodes`: nodes, templates, servers, jobs. One projection over
 * `evt.>` (nats-server 2.9 has single-filter consumers) that ignores other aggregates.
 */
export class FleetProjection implements Projection {
  readonly name = 'nodes_fleet_read_model';
  readonly filterSubject = 'evt.>';
  readonly schema = SCHEMA;
  readonly tables = [`${SCHEMA}.nodes`, `${SCHEMA}.templates`, `${SCHEMA}.servers`, `${SCHEMA}.jobs`];

  async migrate(em: EntityManager): Promise<void> {
    await em.query(`create table if not exists ${SCHEMA}.nodes (
      id uuid primary key, name text not null, memory_mb int not null, cpu_percent int not null,
      storage_size text not null, storage_mb int not null, tags jsonb not null default '[]',
      draining boolean not null default false, enrolled boolean not null default false, online boolean not null default false,
      spec jsonb, last_seen_at timestamptz, created_at timestamptz not null, version int not null)`);
    await em.query(`create table if not exists ${SCHEMA}.templates (
      id uuid primary key, name text not null, data jsonb not null, built_in boolean not null, created_at timestamptz not null, version int not null)`);
    await em.query(`create table if not exists ${SCHEMA}.servers (
      id uuid primary key, name text not null, template_id uuid not null, node_id uuid not null, owner_id text not null,
      state text not null, desired text not null, run_id text, limits jsonb not null, variables jsonb not null, ports jsonb not null,
      template jsonb not null, crashes int not null default 0, last_exit jsonb, created_at timestamptz not null, version int not null)`);
    // The process managers' schedules (docs/fleet.md "Timers"), derived from events like every other column.
    await em.query(`alter table ${SCHEMA}.servers add column if not exists restart_due_at timestamptz`);
    await em.query(`alter table ${SCHEMA}.servers add column if not exists install_due_at timestamptz`);
    await em.query(`alter table ${SCHEMA}.servers add column if not exists install_attempts int not null default 0`);
    await em.query(`create index if not exists servers_node_idx on ${SCHEMA}.servers (node_id)`);
    await em.query(`create index if not exists servers_restart_due_idx on ${SCHEMA}.servers (restart_due_at) where restart_due_at is not null`);
    await em.query(`create index if not exists servers_install_due_idx on ${SCHEMA}.servers (install_due_at) where install_due_at is not null`);
    await em.query(`create index if not exists servers_owner_idx on ${SCHEMA}.servers (owner_id)`);
    // Sub-users (docs/subusers.md): `[{user_id, permissions}]`; GET /servers of a sub-user finds its servers by containment.
    await em.query(`alter table ${SCHEMA}.servers add column if not exists subusers jsonb not null default '[]'`);
    await em.query(`create index if not exists servers_subusers_idx on ${SCHEMA}.servers using gin (subusers jsonb_path_ops)`);
    // The server's own startup line (PATCH {startup}); null: its template's.
    await em.query(`alter table ${SCHEMA}.servers add column if not exists startup text`);
    await em.query(`create table if not exists ${SCHEMA}.jobs (
      id uuid primary key, runtime text not null, status text not null, stdout text not null default '', stderr text not null default '',
      exit_code int, execution_time_ms int, node_id uuid not null, owner_id text not null,
      created_at timestamptz not null, finished_at timestamptz, version int not null)`);
    // Job history (GET /jobs): newest first, by owner or by everyone.
    await em.query(`create index if not exists jobs_history_idx on ${SCHEMA}.jobs (created_at desc, id desc)`);
    await em.query(`create index if not exists jobs_owner_history_idx on ${SCHEMA}.jobs (owner_id, created_at desc, id desc)`);
  }

  async apply(em: EntityManager, events: RecordedEvent[]): Promise<void> {
    for (const { event } of events) {
      const [aggregate, id] = event.subject.split('/');
      if (aggregate === 'node') await this.node(em, id, event);
      else if (aggregate === 'template') await this.template(em, id, event);
      else if (aggregate === 'server') await this.server(em, id, event);
      else if (aggregate === 'job') await this.job(em, id, event);
    }
  }

  private async node(em: EntityManager, id: string, e: CloudEvent): Promise<void> {
    const d = e.data as Record<string, any>;
    const v = e.aggregateversion;
    switch (e.type) {
      case 'node.created':
        await em.query(
          `insert into ${SCHEMA}.nodes (id, name, memory_mb, cpu_percent, storage_size, storage_mb, tags, created_at, version)
           values ($1,$2,$3,$4,$5,$6,$7,$8,$9) on conflict (id) do nothing`,
          [id, d.name, d.memory_mb, d.cpu_percent, String(d.storage_size), d.storage_mb, JSON.stringify(d.tags), e.time, v],
        );
        return;
      case 'node.updated': {
        const sets: string[] = [];
        const values: unknown[] = [id, v];
        for (const key of ['name', 'memory_mb', 'cpu_percent', 'storage_size', 'storage_mb', 'tags', 'draining']) {
          if (d[key] === undefined) continue;
          values.push(key === 'tags' ? JSON.stringify(d[key]) : key === 'storage_size' ? String(d[key]) : d[key]);
          sets.push(`${key} = $${values.length}`);
        }
        await em.query(`update ${SCHEMA}.nodes set ${[...sets, 'version = $2'].join(', ')} where id = $1`, values);
        return;
      }
      case 'node.deleted':
        await em.query(`delete from ${SCHEMA}.nodes where id = $1`, [id]);
        return;
      case 'node.enrolled':
        return this.nodeSet(em, id, v, 'enrolled = true');
      case 'node.drained':
        return this.nodeSet(em, id, v, 'draining = true');
      case 'node.came_online':
        await em.query(`update ${SCHEMA}.nodes set online = true, last_seen_at = $3, version = $2 where id = $1`, [id, v, d.at]);
        return;
      case 'node.went_offline':
        return this.nodeSet(em, id, v, 'online = false');
      case 'node.spec_reported':
        await em.query(`update ${SCHEMA}.nodes set spec = $3, version = $2 where id = $1`, [id, v, JSON.stringify(d.spec)]);
        return;
      default:
        return this.nodeSet(em, id, v, 'version = version');
    }
  }

  private async nodeSet(em: EntityManager, id: string, version: number, set: string): Promise<void> {
    await em.query(`update ${SCHEMA}.nodes set ${set}, version = $2 where id = $1`, [id, version]);
  }

  private async template(em: EntityManager, id: string, e: CloudEvent): Promise<void> {
    const d = e.data as Record<string, any>;
    if (e.type === 'template.created') {
      const { built_in, ...data } = d;
      await em.query(
        `insert into ${SCHEMA}.templates (id, name, data, built_in, created_at, version) values ($1,$2,$3,$4,$5,$6) on conflict (id) do nothing`,
        [id, d.name, JSON.stringify(data), built_in, e.time, e.aggregateversion],
      );
    } else if (e.type === 'template.updated') {
      const patch = Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined));
      await em.query(`update ${SCHEMA}.templates set data = data || $2::jsonb, name = coalesce($3, name), version = $4 where id = $1`, [
        id,
        JSON.stringify(patch),
        d.name ?? null,
        e.aggregateversion,
      ]);
    } else if (e.type === 'template.deleted') {
      await em.query(`delete from ${SCHEMA}.templates where id = $1`, [id]);
    }
  }

  private async server(em: EntityManager, id: string, e: CloudEvent): Promise<void> {
    if (e.type === 'server.deleted') {
      await em.query(`delete from ${SCHEMA}.servers where id = $1`, [id]);
      return;
    }
    let state: ServerState;
    if (e.type === 'server.created') {
      state = evolveServer(initialServer(), e);
    } else {
      const rows = await em.query(`select * from ${SCHEMA}.servers where id = $1`, [id]);
      if (rows.length === 0) return;
      state = evolveServer(rowToServerState(rows[0]), e);
    }
    await em.query(
      `insert into ${SCHEMA}.servers (id, name, template_id, node_id, owner_id, state, desired, run_id, limits, variables, ports, template, crashes, last_exit, created_at, version,
         restart_due_at, install_due_at, install_attempts, subusers, startup)
       values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)
       on conflict (id) do update set name = excluded.name, state = excluded.state, desired = excluded.desired, run_id = excluded.run_id,
         limits = excluded.limits, variables = excluded.variables, ports = excluded.ports, crashes = excluded.crashes,
         last_exit = excluded.last_exit, version = excluded.version, restart_due_at = excluded.restart_due_at,
         install_due_at = excluded.install_due_at, install_attempts = excluded.install_attempts, subusers = excluded.subusers,
         startup = excluded.startup`,
      [
        id,
        state.name,
        state.template_id,
        state.node_id,
        state.owner_id,
        state.state,
        state.desired,
        state.runId,
        JSON.stringify(state.limits),
        JSON.stringify(state.variables),
        JSON.stringify(state.ports),
        JSON.stringify(state.template),
        state.crashes,
        state.lastExit ? JSON.stringify(state.lastExit) : null,
        state.createdAt ?? e.time,
        e.aggregateversion,
        state.restartDueAt,
        state.installDueAt,
        state.installAttempts,
        JSON.stringify(state.subusers),
        state.startup ?? null,
      ],
    );
  }

  private async job(em: EntityManager, id: string, e: CloudEvent): Promise<void> {
    const d = e.data as Record<string, any>;
    const v = e.aggregateversion;
    switch (e.type) {
      case 'job.created':
        await em.query(
          `insert into ${SCHEMA}.jobs (id, runtime, status, node_id, owner_id, created_at, version) values ($1,$2,'queued',$3,$4,$5,$6) on conflict (id) do nothing`,
          [id, d.runtime, d.node_id, d.owner_id, e.time, v],
        );
        return;
      case 'job.started':
        await em.query(`update ${SCHEMA}.jobs set status = 'running', version = $2 where id = $1 and status = 'queued'`, [id, v]);
        return;
      case 'job.cancelled':
        await em.query(`update ${SCHEMA}.jobs set version = $2 where id = $1`, [id, v]);
        return;
      case 'job.finished':
        await em.query(
          `update ${SCHEMA}.jobs set status = $3, stdout = $4, stderr = $5, exit_code = $6, execution_time_ms = $7, finished_at = $8, version = $2 where id = $1`,
          [id, v, d.status, d.stdout, d.stderr, d.exit_code, d.execution_time_ms, e.time],
        );
        return;
    }
  }
}

export function rowToServerState(row: Record<string, any>): ServerState {
  return {
    exists: true,
    deleted: false,
    name: row.name,
    template_id: row.template_id,
    node_id: row.node_id,
    owner_id: row.owner_id,
    limits: row.limits,
    variables: row.variables,
    ports: row.ports,
    template: row.template,
    startup: row.startup ?? null,
    state: row.state,
    desired: row.desired,
    runId: row.run_id,
    crashes: row.crashes,
    lastExit: row.last_exit,
    createdAt: row.created_at ? new Date(row.created_at).toISOString() : null,
    restartDueAt: row.restart_due_at ? new Date(row.restart_due_at).toISOString() : null,
    installDueAt: row.install_due_at ? new Date(row.install_due_at).toISOString() : null,
    installAttempts: row.install_attempts ?? 0,
    subusers: row.subusers ?? [],
  };
}
