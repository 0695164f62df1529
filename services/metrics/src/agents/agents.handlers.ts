import { Controller, Inject } from '@nestjs/common';
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
  Subjects,
  ValidationError,
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
    await Promise.all([this.writer.write(cmd.id, cmd.type, Date.now(), cmd.data), this.monitor.sawType(cmd.id, cmd.type)]);
    return AGENT_SUCCESS;
  }

  /** Documents of many requests the gateway gathered (agent-ingest.ts there): one write for all, each agent's types noted. */
  @MessagePattern(Subjects.command('metrics', ExternalAgentVerbs.dataBatch))
  async dataBatch(@Payload() data: unknown): Promise<{ result: 'success'; stored: number }> {
    const { items } = agentDataBatchSchema.parse(data);
    const types = new Map(items.map((d) => [`${d.id}\u0000${d.type}`, d]));
    await Promise.all([this.writer.writeMany(items.map((d) => ({ agentId: d.id, type: d.type, t: d.t, data: d.data }))), ...[...types.values()].map((d) => this.monitor.sawType(d.id, d.type))]);
    return { result: 'success', stored: items.length };
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

