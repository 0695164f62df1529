import { EventEmitter } from 'node:events';

/**
 * `COPY … FROM STDIN` on node-postgres without a dependency: a Submittable (pg's own query protocol
 * hooks, the ones pg-copy-streams implements) that sends one buffer of COPY text and resolves at the
 * server's ReadyForQuery. COPY loads rows about twice as fast as a multi-row INSERT of unnested
 * arrays (bench/metrics.bench.ts measures both), because the server parses no arrays and plans nothing.
 */
class CopyIn extends EventEmitter {
  private error?: Error;
  private rows = 0;
  readonly done: Promise<number>;
  private settle!: (error?: Error) => void;

  constructor(
    private readonly text: string,
    private readonly data: Buffer,
  ) {
    super();
    this.done = new Promise<number>((resolve, reject) => (this.settle = (error) => (error ? reject(error) : resolve(this.rows))));
  }

  submit(connection: PgConnection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: PgConnection): void {
    // CopyData messages are length-prefixed with 32 bits: send large loads in slices.
    for (let offset = 0; offset < this.data.length; offset += COPY_SLICE) connection.sendCopyFromChunk(this.data.subarray(offset, offset + COPY_SLICE));
    connection.endCopyFrom();
  }

  handleCommandComplete(message: { text?: string }): void {
    this.rows = Number(/(\d+)$/.exec(message.text ?? '')?.[1] ?? 0);
  }

  handleReadyForQuery(): void {
    this.settle(this.error);
  }

  /** pg forgets the active query on an error (it never sees the ReadyForQuery that follows): settle now. */
  handleError(error: Error): void {
    this.error = error;
    this.settle(error);
  }

  handleEmptyQuery(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCopyData(): void {}
}

const COPY_SLICE = 1024 * 1024;

interface PgConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/** What copyRows needs: a pg client, or a TypeORM EntityManager / QueryRunner holding one (its transaction's connection). */
export type CopyTarget = { query: (...args: never[]) => unknown } | { queryRunner?: { databaseConnection?: unknown } } | { databaseConnection?: unknown };

function pgClientOf(target: CopyTarget): { query(submittable: unknown): unknown } {
  const candidates = [
    (target as { queryRunner?: { databaseConnection?: unknown } }).queryRunner?.databaseConnection,
    (target as { databaseConnection?: unknown }).databaseConnection,
    target,
  ];
  for (const c of candidates) if (c && typeof (c as { connection?: unknown }).connection === 'object' && typeof (c as { query?: unknown }).query === 'function') return c as { query(s: unknown): unknown };
  throw new Error('pg-copy: no pg client here; pass an EntityManager inside a transaction, a QueryRunner or a pg client');
}

/** One value as COPY's text format writes it: `\N` for null, backslash escapes for the separators. */
export function copyText(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'number') return String(value);
  return /[\\\t\n\r]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : value;
}

/**
 * Loads `lines` (each row's values already joined by tabs and ended by `\n`, see copyText) into
 * `table (columns)` with COPY, on `target`'s connection (inside its transaction when it has one).
 * Resolves with the rows loaded; a bad row fails the whole COPY and loads nothing.
 */
export async function copyRows(target: CopyTarget, table: string, columns: readonly string[], lines: string): Promise<number> {
  if (lines.length === 0) return 0;
  const copy = new CopyIn(`copy ${table} (${columns.join(', ')}) from stdin`, Buffer.from(lines, 'utf8'));
  pgClientOf(target).query(copy);
  return copy.done;
}
