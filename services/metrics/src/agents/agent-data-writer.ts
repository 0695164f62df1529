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
 * Gathers the data documents of concurrent `POST /agents/data` requests into one transaction (at
 * most `maxRows`, or what arrived within `maxDelayMs`); each request resolves once its row is stored.
 * One batch is written at a time: what arrives meanwhile goes into the next batch, so a burst makes
 * bigger batches instead of transactions queueing on the same rollup rows.
 */
export class AgentDataWriter {
  private pending: Pending[] = [];
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;

  constructor(
    private readonly store: MetricsStore,
    private readonly maxRows = 500,
    private readonly maxDelayMs = 5,
  ) {}

  write(agentId: string, type: string, t: number, data: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ row: { agentId, type, t, data }, resolve, reject });
      if (this.writing) return; // the running drain takes it with the next batch
      if (this.pending.length >= this.maxRows) this.kick();
      else
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.kick();
        }, this.maxDelayMs);
    });
  }

  /** Writes everything pending now; resolves once it is written (or failed, each request with its batch). */
  async flush(): Promise<void> {
    this.kick();
    await this.writing;
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.writing ??= this.drain().finally(() => {
      this.writing = undefined;
      // A write that came after the drain's last look but before this: start over for it.
      if (this.pending.length > 0) this.kick();
    });
  }

  /** One batch at a time until nothing is pending. */
  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxRows);
      try {
        await this.store.writeAgentData(
          batch.map((p) => p.row),
          batch.flatMap((p) => numericFields(p.row)),
        );
        for (const p of batch) p.resolve();
      } catch (error) {
        for (const p of batch) p.reject(error as Error);
      }
    }
  }
}
