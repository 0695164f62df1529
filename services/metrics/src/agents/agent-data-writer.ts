import { Batcher } from '@encedeus/messaging';
import type { MetricsStore } from '../storage/metrics-store';

type AgentDataRow = { agentId: string; type: string; t: number; data: unknown };

/** The finite numbers among a document's top-level fields, as values of series `<type>.<field>`. */
export function numericFields(row: AgentDataRow): { agentId: string; series: string; t: number; value: number }[] {
  if (typeof row.data !== 'object' || row.data === null) return [];
  return Object.entries(row.data as Record<string, unknown>).flatMap(([field, value]) =>
    typeof value === 'number' && Number.isFinite(value) ? [{ agentId: row.agentId, series: `${row.type}.${field}`, t: row.t, value }] : [],
  );
}

/**
 * Gathers the data documents of concurrent requests (single documents of `agent_data`, the
 * gateway's batches of `agent_data_batch`) into one statement of at most `maxRows` documents (a
 * request's documents are never split). One batch is written at a time: what arrives meanwhile goes
 * into the next one, so a burst makes bigger batches instead of statements queueing on the same
 * rollup rows. Each request resolves once its documents are stored.
 */
export class AgentDataWriter {
  private readonly batcher: Batcher<AgentDataRow[]>;

  constructor(store: MetricsStore, maxRows = 1000, maxDelayMs = 0) {
    this.batcher = new Batcher(
      (requests) => {
        const rows = requests.flat();
        return store.writeAgentData(rows, rows.flatMap((row) => numericFields(row)));
      },
      { maxWeight: maxRows, maxDelayMs },
    );
  }

  write(agentId: string, type: string, t: number, data: unknown): Promise<void> {
    return this.writeMany([{ agentId, type, t, data }]);
  }

  /** Several documents (a batch the gateway gathered): they are stored together. */
  writeMany(rows: AgentDataRow[]): Promise<void> {
    return rows.length === 0 ? Promise.resolve() : this.batcher.add(rows, rows.length);
  }

  /** Writes everything pending now; resolves once it is written (or failed, each request with its batch). */
  flush(): Promise<void> {
    return this.batcher.flush();
  }
}
