import { Controller, Inject, Logger } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import {
  AGENT_SUCCESS,
  agentByeSchema,
  agentDataBatchSchema,
  agentDataQuerySchema,
  agentDataSchema,
  agentPingSchema,
  agentSeriesQuerySchema,
  externalAgentIdSchema,
  metricsQuerySchema,
  ExternalAgentVerbs,
  parseTime,
  DomainError,
  Subjects,
  ValidationError,
  type AgentDataBatchReply,
  type ErrorBody,
  type ExternalAgentDatum,
  type ExternalAgentView,
} from '@encedeus/contracts';
import { metaFromHeaders } from '@encedeus/messaging';
import { MetricsStore, resolutionFor } from '../storage/metrics-store';
import { ActivityMonitor } from './activity-monitor';
import { AgentDataWriter } from './agent-data-writer';

/**
 * External agents (seed 002) behind `POST /agents/ping|data|bye`, `GET /agents`, `GET
 * /agents/:id/data` (`cmd.metrics.agent_*`, `cmd.metrics.list_agents`). The gateway checked the
 * caller (`metrics.ingest` to report, `metrics.read` to read) and the body's type.
 */
@Controller()
export class AgentsHandlers {
  private readonly logger = new Logger('AgentsHandlers');

  constructor(
    @Inject(ActivityMonitor) private readonly monitor: ActivityMonitor,
    @Inject(AgentDataWriter) private readonly writer: AgentDataWriter,
    @Inject(MetricsStore) private readonly store: MetricsStore,
  ) {}

  @MessagePattern(Subjects.command('metrics', ExternalAgentVerbs.ping))
  async ping(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<typeof AGENT_SUCCESS> {
    const cmd = agentPingSchema.parse(data);
    await this.monitor.ping(cmd.id, cmd.timeout_s, metaFromHeaders(ctx.getHeaders?.()));
    return AGENT_SUCCESS;
  }

  @MessagePattern(Subjects.command('metrics', ExternalAgentVerbs.data))
  async data(@Payload() data: unknown): Promise<typeof AGENT_SUCCESS> {
    const cmd = agentDataSchema.parse(data);
    await Promise.all([this.writer.write(cmd.id, cmd.type, Date.now(), cmd.data), this.noteTypes([cmd])]);
    return AGENT_SUCCESS;
  }

  /**
   * Documents of many requests the gateway gathered (agent-ingest.ts there): written together,
   * each stored or refused on its own (the reply names the refused ones), each agent's types noted.
   */
  @MessagePattern(Subjects.command('metrics', ExternalAgentVerbs.dataBatch))
  async dataBatch(@Payload() data: unknown): Promise<AgentDataBatchReply> {
    const { items } = agentDataBatchSchema.parse(data);
    const [outcomes] = await Promise.all([this.writer.writeEach(items.map((d) => ({ agentId: d.id, type: d.type, t: d.t, data: d.data }))), this.noteTypes(items)]);
    const refused = outcomes.flatMap((o, index) => (o.status === 'rejected' ? [{ index, ...toErrorBody(o.reason) }] : []));
    return { result: 'success', stored: items.length - refused.length, refused };
  }

  /**
   * Notes each agent's types with one write per agent. Bookkeeping only: the documents are stored
   * whatever happens here, so a failure is logged and never changes the answer (a client told
   * "failed" would send them again).
   */
  private async noteTypes(documents: readonly { id: string; type: string }[]): Promise<void> {
    const byAgent = new Map<string, Set<string>>();
    for (const d of documents) byAgent.set(d.id, (byAgent.get(d.id) ?? new Set()).add(d.type));
    await Promise.all(
      [...byAgent].map(([agentId, types]) =>
        this.monitor.sawTypes(agentId, [...types]).catch((error: unknown) => this.logger.warn(`types of agent ${agentId} not noted: ${(error as Error).message}`)),
      ),
    );
  }

  @MessagePattern(Subjects.command('metrics', ExternalAgentVerbs.bye))
  async bye(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<typeof AGENT_SUCCESS> {
    const cmd = agentByeSchema.parse(data);
    await this.monitor.bye(cmd.id, metaFromHeaders(ctx.getHeaders?.()));
    return AGENT_SUCCESS;
  }

  @MessagePattern(Subjects.command('metrics', ExternalAgentVerbs.list))
  list(): { items: ExternalAgentView[] } {
    return { items: this.monitor.list() };
  }

  /** One numeric field of a data type over a range: average, minimum and maximum per step (raw 48 h, 1-minute 30 d, 1-hour 1 y). */
  @MessagePattern(Subjects.command('metrics', ExternalAgentVerbs.series))
  async series(@Payload() data: unknown): Promise<{ agent_id: string; series: string; step: number; resolution: string; points: { t: string; avg: number; min: number; max: number }[] }> {
    const q = agentSeriesQuerySchema.extend({ id: externalAgentIdSchema }).parse(data);
    // The range rules of GET /metrics (422 for a bad range or step, at most 1,000 points).
    const range = metricsQuerySchema.parse({ target: 'fleet', from: q.from, to: q.to, step: q.step });
    const resolution = resolutionFor(range.from, range.step, Date.now());
    const series = `${q.type}.${q.field}`;
    const points = await this.store.readAgentSeries(q.id, series, range.from, range.to, range.step, resolution);
    return { agent_id: q.id, series, step: range.step, resolution, points: points.map((p) => ({ ...p, t: new Date(p.t).toISOString() })) };
  }

  @MessagePattern(Subjects.command('metrics', ExternalAgentVerbs.queryData))
  async queryData(@Payload() data: unknown): Promise<{ agent_id: string; items: ExternalAgentDatum[] }> {
    const q = agentDataQuerySchema.extend({ id: externalAgentIdSchema }).parse(data);
    const to = q.to === undefined ? Date.now() + 1 : parseTime(q.to);
    const from = q.from === undefined ? (to ?? Date.now()) - 3600_000 : parseTime(q.from);
    if (to === undefined || from === undefined || to <= from) {
      throw new ValidationError('Invalid range', [{ path: to === undefined || (from !== undefined && to <= from) ? 'to' : 'from', message: 'must be epoch ms or ISO 8601, to after from' }]);
    }
    const rows = await this.store.readAgentData(q.id, q.type, from, to, q.limit);
    return { agent_id: q.id, items: rows.map((r) => ({ t: new Date(r.t).toISOString(), type: r.type, data: r.data })) };
  }
}

/** What a refused document's request answers: a typed error as it is; anything else as INTERNAL, without its details. */
function toErrorBody(error: unknown): ErrorBody {
  return error instanceof DomainError ? error.toBody() : { code: 'INTERNAL', error: 'The report could not be stored' };
}
