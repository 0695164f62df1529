import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { z } from 'zod';
import { text } from '@encedeus/contracts';
import { JOB_STATUSES, pageQuerySchema, Subjects, ValidationError, type JobSummary, type JobView, type NodeView, type Page, type ServerView, type TemplateView } from '@encedeus/contracts';
import { SCHEMA } from '../projections/fleet.projection';
import { FleetReadModel, type JobRow, type NodeRow, type ServerRow, type TemplateRow } from './fleet.read-model';
import { Liveness } from '../liveness/liveness';

const idSchema = z.object({ id: z.uuid() });
// Fleet lists page by id: a cursor is the last id of the previous page, so anything else is 422
// (it used to reach Postgres as a uuid and come back as a 500).
const pageSchema = pageQuerySchema.extend({
  cursor: z.uuid().optional(),
  /** Only these ids (the gateway names the servers, nodes and templates of an audit or events page in one ask). */
  ids: z.array(z.uuid()).max(500).optional(),
});

/** Read-side: every answer comes from the `nodes` schema plus in-memory liveness and usage (usage history is the metrics service's). */
@Controller()
export class FleetQueries {
  constructor(
    @Inject(FleetReadModel) private readonly readModel: FleetReadModel,
    @Inject(Liveness) private readonly liveness: Liveness,
  ) {}

  private get db() {
    return this.readModel.db;
  }

  private get views() {
    return this.readModel.views;
  }

  @MessagePattern(Subjects.command('nodes', 'list_nodes'))
  async listNodes(@Payload() data: unknown): Promise<Page<NodeView>> {
    const q = pageSchema.extend({ q: text().max(100).optional(), tag: text().max(64).optional() }).parse(data ?? {});
    const params: unknown[] = [q.limit + 1];
    const where: string[] = [];
    if (q.cursor) where.push(`id > $${params.push(q.cursor)}`);
    if (q.ids) where.push(`id = any($${params.push(q.ids)}::uuid[])`);
    if (q.q) where.push(`name ilike $${params.push(`%${q.q.replace(/[\\%_]/g, '\\$&')}%`)}`);
    if (q.tag) where.push(`tags ? $${params.push(q.tag)}`);
    const rows: NodeRow[] = await this.db.query(`select * from ${SCHEMA}.nodes ${where.length ? 'where ' + where.join(' and ') : ''} order by id limit $1`, params);
    const page = rows.slice(0, q.limit);
    const allocations = await this.readModel.allocations(page.map((r) => r.id));
    return {
      items: page.map((r) => this.views.node(r, allocations.get(r.id))),
      nextCursor: rows.length > q.limit ? page[page.length - 1].id : null,
    };
  }

  @MessagePattern(Subjects.command('nodes', 'get_node'))
  getNode(@Payload() data: unknown): Promise<NodeView> {
    return this.readModel.getNodeView(idSchema.parse(data).id);
  }

  @MessagePattern(Subjects.command('nodes', 'list_templates'))
  async listTemplates(@Payload() data: unknown): Promise<Page<TemplateView>> {
    const q = pageSchema.parse(data ?? {});
    const params: unknown[] = [q.limit + 1];
    const where: string[] = [];
    if (q.cursor) where.push(`id > $${params.push(q.cursor)}`);
    if (q.ids) where.push(`id = any($${params.push(q.ids)}::uuid[])`);
    const rows: TemplateRow[] = await this.db.query(`select * from ${SCHEMA}.templates ${where.length ? 'where ' + where.join(' and ') : ''} order by id limit $1`, params);
    const page = rows.slice(0, q.limit);
    return { items: page.map((r) => this.views.template(r)), nextCursor: rows.length > q.limit ? page[page.length - 1].id : null };
  }

  @MessagePattern(Subjects.command('nodes', 'get_template'))
  getTemplate(@Payload() data: unknown): Promise<TemplateView> {
    return this.readModel.getTemplateView(idSchema.parse(data).id);
  }

  /**
   * `owner_id` narrows to one owner's servers; `member_id` to the servers a user owns or is a
   * sub-user of (the gateway sets it for callers without servers.read: contracts' canSeeServer).
   */
  @MessagePattern(Subjects.command('nodes', 'list_servers'))
  async listServers(@Payload() data: unknown): Promise<Page<ServerView>> {
    const q = pageSchema
      .extend({
        owner_id: text().max(100).optional(),
        member_id: text().max(100).optional(),
        node_id: z.uuid().optional(),
        state: text().max(20).optional(),
        q: text().max(100).optional(),
      })
      .parse(data ?? {});
    const params: unknown[] = [q.limit + 1];
    const where: string[] = [];
    if (q.cursor) where.push(`id > $${params.push(q.cursor)}`);
    if (q.ids) where.push(`id = any($${params.push(q.ids)}::uuid[])`);
    if (q.owner_id) where.push(`owner_id = $${params.push(q.owner_id)}`);
    if (q.member_id) {
      const n = params.push(q.member_id);
      where.push(`(owner_id = $${n} or subusers @> jsonb_build_array(jsonb_build_object('user_id', $${n}::text)))`);
    }
    if (q.node_id) where.push(`node_id = $${params.push(q.node_id)}`);
    if (q.state) where.push(`state = $${params.push(q.state)}`);
    if (q.q) where.push(`name ilike $${params.push(`%${q.q.replace(/[\\%_]/g, '\\$&')}%`)}`);
    const rows: ServerRow[] = await this.db.query(`select * from ${SCHEMA}.servers ${where.length ? 'where ' + where.join(' and ') : ''} order by id limit $1`, params);
    const page = rows.slice(0, q.limit);
    return { items: page.map((r) => this.views.server(r)), nextCursor: rows.length > q.limit ? page[page.length - 1].id : null };
  }

  @MessagePattern(Subjects.command('nodes', 'get_server'))
  getServer(@Payload() data: unknown): Promise<ServerView> {
    return this.readModel.getServerView(idSchema.parse(data).id);
  }

  @MessagePattern(Subjects.command('nodes', 'get_job'))
  getJob(@Payload() data: unknown): Promise<JobView> {
    return this.readModel.getJobView(idSchema.parse(data).id);
  }

  /**
   * Job history, newest first (issue 14: a job was lost on reload and there was no history). Items
   * leave out stdout and stderr (GET /jobs/:id has them). `owner_id` narrows to one owner (the
   * gateway sets it for callers without jobs.read); `cursor` is the last item's `createdAt|id`.
   */
  @MessagePattern(Subjects.command('nodes', 'list_jobs'))
  async listJobs(@Payload() data: unknown): Promise<Page<JobSummary>> {
    const q = pageQuerySchema
      .extend({ owner_id: text().max(100).optional(), status: z.enum(JOB_STATUSES).optional(), node_id: z.uuid().optional() })
      .parse(data ?? {});
    const params: unknown[] = [q.limit + 1];
    const where: string[] = [];
    if (q.cursor) {
      const [at, id] = q.cursor.split('|');
      if (!id || !z.uuid().safeParse(id).success || Number.isNaN(Date.parse(at))) throw new ValidationError('Invalid cursor', [{ path: 'cursor', message: 'not a cursor of this list' }]);
      where.push(`(created_at, id) < ($${params.push(at)}::timestamptz, $${params.push(id)}::uuid)`);
    }
    if (q.owner_id) where.push(`owner_id = $${params.push(q.owner_id)}`);
    if (q.status) where.push(`status = $${params.push(q.status)}`);
    if (q.node_id) where.push(`node_id = $${params.push(q.node_id)}`);
    const rows: JobRow[] = await this.db.query(
      `select id, runtime, status, '' as stdout, '' as stderr, exit_code, execution_time_ms, node_id, owner_id, created_at, finished_at, version
         from ${SCHEMA}.jobs ${where.length ? 'where ' + where.join(' and ') : ''} order by created_at desc, id desc limit $1`,
      params,
    );
    const page = rows.slice(0, q.limit).map((r) => {
      const { stdout: _out, stderr: _err, ...summary } = this.views.job(r);
      return summary;
    });
    const last = page[page.length - 1];
    return { items: page, nextCursor: rows.length > q.limit && last ? `${last.createdAt}|${last.id}` : null };
  }

  /** Liveness figures (benchmarks, health pages). */
  @MessagePattern(Subjects.command('nodes', 'liveness_stats'))
  livenessStats() {
    return this.liveness.stats();
  }
}
