import type { MetricsStore } from '../storage/metrics-store';

interface Pending {
  row: { agentId: string; type: string; t: number; data: unknown };
  resolve: () => void;
  reject: (error: Error) => void;
}

/** The finite numbers among a document's top-level fields, as values of series `<type>.<field>`. */
export function numericFields(row: { agentId: string; type: string; t: number; data: unknown }): { agentId: string; series: string; t: number; value: number }[] {
  if (typeof row.data !== 'object' || row.data === null) return [];
  return Object.entries(row.data as Record<string, unknown>).flatMap(([field, value]) =>
    typeof value === 'number' && Number.isFinite(value) ? [{ agentId: row.agentId, series: `${row.type}.${field}`, t: row.t, value }] : [],
  );
}

/**
 * Gathers the data documents of concurrent `POST /agents/data` requests into one multi-row insert
 * (at most `maxRows`, or what arrived within `maxDelayMs`); each request resolves once its row is stored.
 */
export class AgentDataWriter {
  private pending: Pending[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly store: MetricsStore,
    private readonly maxRows = 500,
    private readonly maxDelayMs = 10,
  ) {}

  write(agentId: string, type: string, t: number, data: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ row: { agentId, type, t, data }, resolve, reject });
      if (this.pending.length >= this.maxRows) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.maxDelayMs);
    });
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    try {
      await this.store.writeAgentData(batch.map((p) => p.row));
      await this.store.writeAgentValues(batch.flatMap((p) => numericFields(p.row)));
      for (const p of batch) p.resolve();
    } catch (error) {
      for (const p of batch) p.reject(error as Error);
    }
  }
}
