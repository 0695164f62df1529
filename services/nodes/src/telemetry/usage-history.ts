import { JSONCodec, type NatsConnection } from 'nats';
import { readRange } from '@encedeus/messaging';
import { STREAMS, type NodeUsage, type NodeUsageSample, type UsageHistory, type UsageHistoryRange } from '@encedeus/contracts';
import { toNodeUsage } from './usage-cache';

const codec = JSONCodec<NodeUsageSample>();
const RANGE_S: Record<UsageHistoryRange, number> = { '1h': 3600, '6h': 6 * 3600, '24h': 24 * 3600, '7d': 7 * 24 * 3600 };
const MAX_POINTS = 240;
const READ_TIMEOUT_MS = 10_000;

/**
 * A node's usage over a range, read back from stream TELEMETRY (`tel.<nodeId>.usage`, kept 24 h)
 * with the kernel's range reader from the range's start, averaged into at most MAX_POINTS buckets. No
 * table of its own: rollups beyond the stream's window belong to the metrics service.
 */
export class UsageHistoryReader {
  constructor(private readonly nc: NatsConnection) {}

  async read(nodeId: string, range: UsageHistoryRange, now = Date.now()): Promise<UsageHistory> {
    const rangeMs = RANGE_S[range] * 1000;
    const bucketMs = Math.max(1000, Math.ceil(rangeMs / MAX_POINTS / 1000) * 1000);
    const from = now - rangeMs;
    const history: UsageHistory = { node_id: nodeId, range, from: new Date(from).toISOString(), to: new Date(now).toISOString(), bucket_s: bucketMs / 1000, items: [] };
    const subject = `tel.${nodeId}.usage`;

    const last = await this.lastSample(subject);
    // Nothing stored in the range: nothing to read.
    if (!last || last.time.getTime() < from) return history;
    const buckets = new Map<number, Bucket>();
    const samples = readRange(this.nc, { stream: STREAMS.telemetry, filterSubject: subject, startTime: new Date(from), to: last.seq, toMatches: true, batch: 1000, idleTimeoutMs: READ_TIMEOUT_MS });
    for await (const m of samples) {
      try {
        const sample = codec.decode(m.data);
        if (sample.at >= from && sample.at <= now) add(buckets, Math.floor((sample.at - from) / bucketMs), toNodeUsage(nodeId, sample));
      } catch {
        // a malformed sample is skipped
      }
    }
    history.items = [...buckets.entries()].sort(([a], [b]) => a - b).map(([index, bucket]) => average(bucket, new Date(from + index * bucketMs + bucketMs / 2)));
    return history;
  }

  /** Where and when the node's newest sample was stored, or undefined when it has none. */
  private async lastSample(subject: string): Promise<{ seq: number; time: Date } | undefined> {
    try {
      const message = await (await this.nc.jetstreamManager()).streams.getMessage(STREAMS.telemetry, { last_by_subj: subject });
      return { seq: message.seq, time: message.time };
    } catch (error) {
      if ((error as { code?: string }).code === '404' || /no message found/i.test((error as Error).message)) return undefined;
      throw error;
    }
  }
}

interface Bucket {
  n: number;
  sum: NodeUsage;
}

const SUMMED = ['memory_usage', 'memory_limit', 'cpu_percent', 'disk_used', 'disk_total', 'net_rx', 'net_tx'] as const;

function add(buckets: Map<number, Bucket>, index: number, usage: NodeUsage): void {
  const bucket = buckets.get(index);
  if (!bucket) {
    buckets.set(index, { n: 1, sum: { ...usage, load: [...usage.load] } });
    return;
  }
  bucket.n++;
  for (const key of SUMMED) bucket.sum[key] += usage[key];
  usage.load.forEach((l, i) => (bucket.sum.load[i] = (bucket.sum.load[i] ?? 0) + l));
}

function average({ n, sum }: Bucket, at: Date): NodeUsage {
  const out = { ...sum, load: sum.load.map((l) => +(l / n).toFixed(2)), at: at.toISOString() };
  for (const key of SUMMED) out[key] = key === 'cpu_percent' ? +(sum[key] / n).toFixed(2) : Math.round(sum[key] / n);
  return out;
}
