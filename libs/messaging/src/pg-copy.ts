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

/** Microseconds between the Unix epoch and Postgres' own (2000-01-01 UTC), in which binary timestamps count. */
const PG_EPOCH_US = 946_684_800_000_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Rows in COPY's binary format, written value by value into one growing buffer. The server then
 * parses no text: a float is 8 bytes as they stand and a timestamp 8 bytes of microseconds, where
 * the text format made both sides print and parse every number (bench/metrics.bench.ts measures
 * both formats). Each row starts with `row(fields)`, then exactly that many values in column order.
 */
export class BinaryCopyRows {
  private buffer: Buffer;
  private length = 0;
  private lastUuid = '';
  private readonly uuidBytes = Buffer.alloc(16);
  rows = 0;

  constructor(expectedBytes = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(Math.max(expectedBytes, 64) + 21);
    // Signature, flags (no OIDs), header extension length.
    this.length = this.buffer.write('PGCOPY\n\xff\r\n\0', 0, 'latin1');
    this.length = this.buffer.writeInt32BE(0, this.length);
    this.length = this.buffer.writeInt32BE(0, this.length);
  }

  row(fields: number): this {
    this.reserve(2);
    this.length = this.buffer.writeInt16BE(fields, this.length);
    this.rows++;
    return this;
  }

  text(value: string | null | undefined): this {
    if (value === null || value === undefined) return this.nullValue();
    const bytes = Buffer.byteLength(value, 'utf8');
    this.reserve(4 + bytes);
    this.length = this.buffer.writeInt32BE(bytes, this.length);
    this.length += this.buffer.write(value, this.length, bytes, 'utf8');
    return this;
  }

  /** A uuid in its canonical text form (anything else throws: the binary format would take wrong bytes silently). */
  uuid(value: string | null | undefined): this {
    if (value === null || value === undefined) return this.nullValue();
    if (value !== this.lastUuid) {
      if (!UUID.test(value)) throw new TypeError(`pg-copy: not a uuid: ${JSON.stringify(value.slice(0, 64))}`);
      this.uuidBytes.write(value.replace(/-/g, ''), 0, 16, 'hex');
      this.lastUuid = value;
    }
    this.reserve(20);
    this.length = this.buffer.writeInt32BE(16, this.length);
    this.length += this.uuidBytes.copy(this.buffer, this.length);
    return this;
  }

  /** A timestamptz from epoch milliseconds (fractions of a microsecond are rounded). */
  timestamp(epochMs: number | null | undefined): this {
    if (epochMs === null || epochMs === undefined) return this.nullValue();
    if (!Number.isFinite(epochMs)) throw new TypeError(`pg-copy: not a time: ${epochMs}`);
    const us = Math.round(epochMs * 1000) - PG_EPOCH_US;
    const high = Math.floor(us / 0x1_0000_0000);
    this.reserve(12);
    this.length = this.buffer.writeInt32BE(8, this.length);
    this.length = this.buffer.writeInt32BE(high, this.length);
    this.length = this.buffer.writeUInt32BE(us - high * 0x1_0000_0000, this.length);
    return this;
  }

  float8(value: number | null | undefined): this {
    if (value === null || value === undefined) return this.nullValue();
    this.reserve(12);
    this.length = this.buffer.writeInt32BE(8, this.length);
    this.length = this.buffer.writeDoubleBE(value, this.length);
    return this;
  }

  /** The whole load: the rows written so far and the trailer (written into the slack every reserve keeps, no copy). */
  toBuffer(): Buffer {
    this.buffer.writeInt16BE(-1, this.length);
    return this.buffer.subarray(0, this.length + 2);
  }

  private nullValue(): this {
    this.reserve(4);
    this.length = this.buffer.writeInt32BE(-1, this.length);
    return this;
  }

  private reserve(bytes: number): void {
    if (this.length + bytes + 2 <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes + 2));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}

/**
 * Loads `rows` (see BinaryCopyRows; their values in the order of `columns`, typed as the columns
 * are) into `table (columns)` with a binary COPY, on `target`'s connection. Resolves with the rows
 * loaded; a bad row fails the whole COPY and loads nothing.
 */
export async function copyBinaryRows(target: CopyTarget, table: string, columns: readonly string[], rows: BinaryCopyRows): Promise<number> {
  if (rows.rows === 0) return 0;
  const copy = new CopyIn(`copy ${table} (${columns.join(', ')}) from stdin with (format binary)`, rows.toBuffer());
  pgClientOf(target).query(copy);
  return copy.done;
}
