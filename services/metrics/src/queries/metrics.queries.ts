import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { z } from 'zod';
import {
  METRICS_FIELDS,
  METRICS_RETENTION_MS,
  metricsQuerySchema,
  MetricsVerbs,
  NotFoundError,
  Subjects,
  usageHistoryQuerySchema,
  type LatestSample,
  type MetricsSeries,
  type NodeUsage,
  type ServerUsage,
  type UsageHistory,
  type UsageHistoryRange,
} from '@encedeus/contracts';
import { MetricsStore, resolutionFor, type StoredPoint } from '../storage/metrics-store';
import { SAMPLE_FIELDS, type SampleField } from '../storage/samples';

const uuid = z.uuid().transform((id) => id.toLowerCase());
const RANGE_MS: Record<UsageHistoryRange, number> = { '1h': 3600_000, '6h': 6 * 3600_000, '24h': 24 * 3600_000, '7d': 7 * 24 * 3600_000, '30d': 30 * 24 * 3600_000 };
/** Points of `GET /nodes/:id/metrics/history` at most (its shape since before the metrics service). */
const HISTORY_POINTS = 240;
/** A server sample older than this is not its latest usage any more: the server stopped reporting. */
const SERVER_LATEST_MS = 60_000;

const index = (f: SampleField) => SAMPLE_FIELDS.indexOf(f);

/**
 * Read side of the metrics service (`cmd.metrics.<verb>`). Authorisation happens before, in the
 * gateway: who may read a node's metrics (`nodes.read`) or a server's (contracts' canSeeServer),
 * and which node a server is placed on (`node_id`, so only what that node sent is answered).
 */
@Controller()
export class MetricsQueries {
  constructor(@Inject(MetricsStore) private readonly store: MetricsStore) {}

  /** `cmd.metrics.query {target, from, to, step, node_id?}` → MetricsSeries. */
  @MessagePattern(Subjects.command('metrics', MetricsVerbs.query))
  async query(@Payload() data: unknown): Promise<MetricsSeries> {
    const { node_id: nodeId, ...rest } = z.looseObject({ node_id: uuid.optional() }).parse(data ?? {});
    const q = metricsQuerySchema.parse(rest);
    const resolution = resolutionFor(q.from, q.step, Date.now());
    const fleet = q.target === 'fleet';
    const points = fleet ? await this.store.readFleet(q.from, q.to, q.step, resolution) : await this.store.read(q.target, nodeId, q.from, q.to, q.step, resolution, METRICS_FIELDS);
    return {
      target: q.target,
      step: q.step,
      from: new Date(q.from).toISOString(),
      to: new Date(q.to).toISOString(),
      resolution,
      points: points.map(
        (p) =>
          ({
            t: new Date(p.t).toISOString(),
            ...Object.fromEntries(METRICS_FIELDS.map((f) => [f, round(f, p.values[index(f)])])),
            ...(fleet ? { memory_limit_bytes: round('memory_limit_bytes', p.values[index('memory_limit_bytes')]) } : {}),
          }) as MetricsSeries['points'][number],
      ),
    };
  }

  /** `cmd.metrics.node_latest {id, server_ids}`: the node's newest sample in seed 001's shape, with the listed servers' newest. */
  @MessagePattern(Subjects.command('metrics', MetricsVerbs.nodeLatest))
  async nodeLatest(@Payload() data: unknown): Promise<NodeUsage & { servers: (ServerUsage & { server_id: string })[] }> {
    const { id, server_ids: serverIds } = z.object({ id: uuid, server_ids: z.array(uuid).max(10_000).default([]) }).parse(data);
    const [node] = [...(await this.store.latest(id, [`node:${id}`], METRICS_RETENTION_MS.raw)).values()];
    if (!node) throw new NotFoundError('Metrics of node', id);
    const servers = await this.store.latest(id, serverIds.map((s) => `server:${s}`), SERVER_LATEST_MS);
    return {
      ...nodeUsage(id, node),
      servers: serverIds.flatMap((serverId) => {
        const s = servers.get(`server:${serverId}`);
        if (!s) return [];
        const v = (f: SampleField) => s.values[index(f)] ?? 0;
        return [{ server_id: serverId, cpu_percent: v('cpu_percent'), memory_bytes: v('memory_bytes'), memory_limit_bytes: v('memory_limit_bytes'), disk_bytes: v('disk_bytes'), uptime_ms: v('uptime_ms'), at: new Date(s.t).toISOString() }];
      }),
    };
  }

  /** `cmd.metrics.fleet_latest {}`: the newest sample of every node and server from the last minute (the gateway renders OpenMetrics). */
  @MessagePattern(Subjects.command('metrics', MetricsVerbs.fleetLatest))
  async fleetLatest(): Promise<{ items: LatestSample[] }> {
    const rows = await this.store.latestAll(SERVER_LATEST_MS);
    return {
      items: rows.map((r) => {
        const v = (f: SampleField) => r.values[index(f)];
        return { target: r.series, node_id: r.nodeId, t: r.t, cpu_percent: v('cpu_percent'), memory_bytes: v('memory_bytes'), memory_limit_bytes: v('memory_limit_bytes'), disk_bytes: v('disk_bytes'), net_rx: v('net_rx'), net_tx: v('net_tx') };
      }),
    };
  }

  /** `cmd.metrics.node_history {id, range}`: the node's usage averaged into at most 240 buckets, oldest first. */
  @MessagePattern(Subjects.command('metrics', MetricsVerbs.nodeHistory))
  async nodeHistory(@Payload() data: unknown): Promise<UsageHistory> {
    const { id, range } = z.object({ id: uuid }).extend(usageHistoryQuerySchema.shape).parse(data);
    const now = Date.now();
    const rangeMs = RANGE_MS[range];
    const stepS = Math.max(1, Math.ceil(rangeMs / HISTORY_POINTS / 1000));
    const from = now - rangeMs;
    const points = await this.store.read(`node:${id}`, id, from, now + 1, stepS, resolutionFor(from, stepS, now));
    return {
      node_id: id,
      range,
      from: new Date(from).toISOString(),
      to: new Date(now).toISOString(),
      bucket_s: stepS,
      items: points.map((p) => nodeUsage(id, { t: p.t + (stepS * 1000) / 2, values: p.values })),
    };
  }
}

/** A stored node point in seed 001's names (what `GET /nodes/:id/metrics` always answered). */
function nodeUsage(nodeId: string, p: Pick<StoredPoint, 't' | 'values'>): NodeUsage {
  const v = (f: SampleField) => p.values[index(f)] ?? 0;
  return {
    node_id: nodeId,
    memory_usage: Math.round(v('memory_bytes')),
    memory_limit: Math.round(v('memory_limit_bytes')),
    cpu_percent: +v('cpu_percent').toFixed(2),
    load: [+v('load1').toFixed(2), +v('load5').toFixed(2), +v('load15').toFixed(2)],
    disk_used: Math.round(v('disk_bytes')),
    disk_total: Math.round(v('disk_total_bytes')),
    net_rx: Math.round(v('net_rx')),
    net_tx: Math.round(v('net_tx')),
    at: new Date(p.t).toISOString(),
  };
}

function round(field: string, value: number | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  return field === 'cpu_percent' ? +value.toFixed(2) : Math.round(value);
}
