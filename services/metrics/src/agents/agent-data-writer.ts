import { Logger } from '@nestjs/common';
import { ValidationError } from '@encedeus/contracts';
import { Batcher } from '@encedeus/messaging';
import type { MetricsStore } from '../storage/metrics-store';

type AgentDataRow = { agentId: string; type: string; t: number; data: unknown };

/** The SQLSTATE of a Postgres error (TypeORM's QueryFailedError copies it from the driver). */
function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

// Postgres looked at the statement and refused it, for something a document can carry: a data
// exception (22: out of range, bad encoding), a violated constraint (23) or a limit (54).
const REFUSED_INPUT = new Set(['22', '23', '54']);
// The connection or the server is the problem (08 connection, 53 resources, 57 shutdown or
// cancel, 58 system): writing fewer documents at a time would fail the same way.
const NOT_THE_INPUT = new Set(['08', '53', '57', '58']);

/**
 * Gathers the data documents of concurrent requests (single documents of `agent_data`, each
 * document of the gateway's `agent_data_batch`) into one statement of at most `maxRows` documents.
 * One batch is written at a time: what arrives meanwhile goes into the next one, so a burst makes
 * bigger batches instead of statements queueing on the same rollup rows. Each document resolves
 * once stored. When Postgres refuses a batch, the batch is written again in halves, down to the
 * document it refuses: that one is rejected (VALIDATION_FAILED when it is the input's fault), the
 * others are stored. A connection or server failure rejects the batch (or the half) it hit.
 */
export class AgentDataWriter {
  private readonly logger = new Logger('AgentDataWriter');
  private readonly batcher: Batcher<AgentDataRow>;

  constructor(
    private readonly store: MetricsStore,
    maxRows = 1000,
    maxDelayMs = 0,
  ) {
    this.batcher = new Batcher((rows) => this.writeSplitting(rows), { maxWeight: maxRows, maxDelayMs });
  }

  /** One document; rejects with ValidationError when the store refuses it. */
  write(agentId: string, type: string, t: number, data: unknown): Promise<void> {
    return this.batcher.add({ agentId, type, t, data });
  }

  /** Documents of different requests (a batch the gateway gathered): each is stored or refused on its own; resolves with each one's outcome, in order. */
  writeEach(rows: AgentDataRow[]): Promise<PromiseSettledResult<void>[]> {
    return Promise.allSettled(rows.map((row) => this.batcher.add(row)));
  }

  /** Writes everything pending now; resolves once it is written (or failed). */
  flush(): Promise<void> {
    return this.batcher.flush();
  }

  /** Writes `rows` in one statement; when Postgres refuses it, each half again. One outcome per row (undefined: stored). */
  private async writeSplitting(rows: AgentDataRow[]): Promise<unknown[]> {
    try {
      await this.store.writeAgentData(rows);
      return rows.map(() => undefined);
    } catch (error) {
      const state = sqlState(error);
      if (state === undefined || NOT_THE_INPUT.has(state.slice(0, 2))) {
        this.logger.error(`${rows.length} documents not stored: ${(error as Error).message}`);
        return rows.map(() => error);
      }
      if (rows.length === 1) return [this.refusal(rows[0], error, state)];
      const half = Math.ceil(rows.length / 2);
      // One half after the other: one statement at a time on the rollup rows, as the batches go.
      return [...(await this.writeSplitting(rows.slice(0, half))), ...(await this.writeSplitting(rows.slice(half)))];
    }
  }

  private refusal(row: AgentDataRow, error: unknown, state: string): unknown {
    if (!REFUSED_INPUT.has(state.slice(0, 2))) return error;
    this.logger.warn(`a document of agent ${row.agentId} (type ${row.type}) was refused by the store: ${state} ${(error as Error).message}`);
    return new ValidationError('The document holds a value that cannot be stored', [{ path: 'data', message: `refused by the store (SQLSTATE ${state})` }]);
  }
}
