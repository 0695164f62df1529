import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { z } from 'zod';
import { NotFoundError, pageQuerySchema, Subjects, usageHistoryQuerySchema, type JobView, type NodeUsage, type NodeView, type Page, type ServerView, type TemplateView, type UsageHistory } from '@encedeus/contracts';
import { FleetCore } from '../fleet-core';
import { SCHEMA } from '../projections/fleet.projection';

const idSchema = z.object({ id: z.uuid() });

/** Read-side: every answer comes from the `nodes` schema plus in-memory liveness and usage. */
@Controller()
export class FleetQueries {
  constructor(@Inject(FleetCore) private readonly fleet: FleetCore) {}

  @MessagePattern(Subjects.command('nodes', 'list_nodes'))
  async listNodes(@Payload() data: unknown): Promise<Page<NodeView>> {
    const q = pageQuerySchema.extend({ q: z.string().max(100).optional(), tag: z.string().max(64).optional() }).parse(data ?? {});
    const params: unknown[] = [q.limit + 1];
    const where: string[] = [];
    if (q.cursor) where.push(`id > $${params.push(q.cursor)}`);
    if (q.q) where.push(`name ilike $${params.push(`%${q.q.replace(/[%_]/g, '\\$&')}%`)}`);
    if (q.tag) where.push(`tags ? $${params.push(q.tag)}`);
    const rows = await this.fleet.db.query(`select * from ${SCHEMA}.nodes ${where.length ? 'where ' + where.join(' and ') : ''} order by id limit $1`, params);
    const page = rows.slice(0, q.limit);
    const allocations = await this.fleet.allocations(page.map((r: any) => r.id));
    return {
      items: page.map((r: any) => this.fleet.nodeView(r, allocations.get(r.id))),
      nextCursor: rows.length > q.limit ? page[page.length - 1].id : null,
    };
  }

  @MessagePattern(Subjects.command('nodes', 'get_node'))
  getNode(@Payload() data: unknown): Promise<NodeView> {
    return this.fleet.getNodeView(idSchema.parse(data).id);
  }

  @MessagePattern(Subjects.command('nodes', 'node_metrics'))
  async nodeMetrics(@Payload() data: unknown): Promise<NodeUsage & { servers: Record<string, unknown>[] }> {
    const { id } = idSchema.parse(data);
    await this.fleet.getNodeView(id);
    const usage = this.fleet.usage.node(id);
    if (!usage) throw new NotFoundError('Metrics of node', id);
    const servers: { id: string }[] = await this.fleet.db.query(`select id from ${SCHEMA}.servers where node_id = $1`, [id]);
    return {
      ...usage,
      servers: servers.flatMap((s) => {
        const u = this.fleet.usage.server(s.id);
        return u ? [{ server_id: s.id, ...u }] : [];
      }),
    };
  }

  /** `cmd.nodes.usage_history {id, range}`: usage averaged per bucket, read back from TELEMETRY. */
  @MessagePattern(Subjects.command('nodes', 'usage_history'))
  async usageHistory(@Payload() data: unknown): Promise<UsageHistory> {
    const { id, range } = idSchema.extend(usageHistoryQuerySchema.shape).parse(data);
    await this.fleet.getNodeView(id);
    return this.fleet.usageHistory.read(id, range);
  }

  @MessagePattern(Subjects.command('nodes', 'list_templates'))
  async listTemplates(@Payload() data: unknown): Promise<Page<TemplateView>> {
    const q = pageQuerySchema.parse(data ?? {});
    const rows = await this.fleet.db.query(
      `select * from ${SCHEMA}.templates ${q.cursor ? 'where id > $2' : ''} order by id limit $1`,
      q.cursor ? [q.limit + 1, q.cursor] : [q.limit + 1],
    );
    const page = rows.slice(0, q.limit);
    return { items: page.map((r: any) => this.fleet.templateView(r)), nextCursor: rows.length > q.limit ? page[page.length - 1].id : null };
  }

  @MessagePattern(Subjects.command('nodes', 'get_template'))
  getTemplate(@Payload() data: unknown): Promise<TemplateView> {
    return this.fleet.getTemplateView(idSchema.parse(data).id);
  }

  /** `owner_id` narrows to one owner's servers (the gateway sets it for callers without servers.read). */
  @MessagePattern(Subjects.command('nodes', 'list_servers'))
  async listServers(@Payload() data: unknown): Promise<Page<ServerView>> {
    const q = pageQuerySchema
      .extend({ owner_id: z.string().max(100).optional(), node_id: z.uuid().optional(), state: z.string().max(20).optional() })
      .parse(data ?? {});
    const params: unknown[] = [q.limit + 1];
    const where: string[] = [];
    if (q.cursor) where.push(`id > $${params.push(q.cursor)}`);
    if (q.owner_id) where.push(`owner_id = $${params.push(q.owner_id)}`);
    if (q.node_id) where.push(`node_id = $${params.push(q.node_id)}`);
    if (q.state) where.push(`state = $${params.push(q.state)}`);
    const rows = await this.fleet.db.query(`select * from ${SCHEMA}.servers ${where.length ? 'where ' + where.join(' and ') : ''} order by id limit $1`, params);
    const page = rows.slice(0, q.limit);
    return { items: page.map((r: any) => this.fleet.serverView(r)), nextCursor: rows.length > q.limit ? page[page.length - 1].id : null };
  }

  @MessagePattern(Subjects.command('nodes', 'get_server'))
  getServer(@Payload() data: unknown): Promise<ServerView> {
    return this.fleet.getServerView(idSchema.parse(data).id);
  }

  @MessagePattern(Subjects.command('nodes', 'get_job'))
  getJob(@Payload() data: unknown): Promise<JobView> {
    return this.fleet.getJobView(idSchema.parse(data).id);
  }

  @MessagePattern(Subjects.command('nodes', 'list_jobs'))
  async listJobs(@Payload() data: unknown): Promise<Page<JobView>> {
    const q = pageQuerySchema.extend({ owner_id: z.string().max(100).optional() }).parse(data ?? {});
    const params: unknown[] = [q.limit + 1];
    const where: string[] = [];
    if (q.cursor) where.push(`id > $${params.push(q.cursor)}`);
    if (q.owner_id) where.push(`owner_id = $${params.push(q.owner_id)}`);
    const rows = await this.fleet.db.query(`select * from ${SCHEMA}.jobs ${where.length ? 'where ' + where.join(' and ') : ''} order by id limit $1`, params);
    const page = rows.slice(0, q.limit);
    return { items: page.map((r: any) => this.fleet.jobView(r)), nextCursor: rows.length > q.limit ? page[page.length - 1].id : null };
  }

  /** Liveness figures (benchmarks, health pages). */
  @MessagePattern(Subjects.command('nodes', 'liveness_stats'))
  livenessStats() {
    return this.fleet.liveness.stats();
  }
}
