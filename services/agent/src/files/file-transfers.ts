import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { headers, JSONCodec, type Msg, type NatsConnection, type Subscription } from 'nats';
import { z } from 'zod';
import { ConflictError, DomainError, NotFoundError, SERVER_FILE_TRANSFER } from '@encedeus/contracts';
import { QuotaWriter } from './disk-quota';
import { parseEntryPath } from './jail-path';
import type { ServerJail } from './server-jail';

const json = JSONCodec<unknown>();
const readRequestSchema = z.object({ offset: z.number().int().min(0), length: z.number().int().min(1).max(SERVER_FILE_TRANSFER.chunkBytes) });

/** Transfers one server may have open at once (each holds a descriptor; an upload a temporary file). */
export const MAX_TRANSFERS_PER_SERVER = 16;

/** The name of an upload's temporary file, hidden beside its target. */
export function temporaryName(transfer: string): string {
  return `.encedeus-upload-${transfer}`;
}

type Transfer =
  | { kind: 'read'; serverId: string; handle: FileHandle; size: number; idle: NodeJS.Timeout }
  | {
      kind: 'write';
      serverId: string;
      jail: ServerJail;
      handle: FileHandle;
      writer: QuotaWriter;
      /** Components of the temporary file and of the target. */
      temp: string[];
      target: string[];
      /** Bytes written, by the highest offset reached. */
      end: number;
      idle: NodeJS.Timeout;
      /** Set once committed or aborted: later messages are refused. */
      closed: boolean;
    };

/**
 * Streamed transfers of server files (docs/server-files.md, "Streamed transfers"). The nodes service
 * opens one (`fs.open_read`, `fs.open_write`, after the gateway checked the caller) and commits an
 * upload (`fs.commit_write`, which it records); the bytes go between the gateway and this agent on
 * `agent.<nodeId>.xfer.<transfer>.<op>`, a chunk per request, so nothing is held beyond the chunks
 * in flight. The transfer id (128 random bits) is the capability; a transfer idle for
 * SERVER_FILE_TRANSFER.idleMs is closed (an upload's temporary file removed).
 */
export class FileTransfers {
  private readonly transfers = new Map<string, Transfer>();
  /**
   * Why an upload ended early (the disk limit), kept a while: chunks already on their way get the same
   * answer instead of "unknown transfer", whatever order the answers leave in.
   */
  private readonly failures = new Map<string, unknown>();
  private sub?: Subscription;

  constructor(
    private readonly nodeId: string,
    private readonly idleMs: number = SERVER_FILE_TRANSFER.idleMs,
  ) {}

  listen(nc: NatsConnection): void {
    this.sub = nc.subscribe(SERVER_FILE_TRANSFER.agentScope(this.nodeId), { callback: (err, msg) => !err && void this.dispatch(msg) });
  }

  async close(): Promise<void> {
    this.sub?.unsubscribe();
    for (const id of [...this.transfers.keys()]) await this.end(id).catch(() => undefined);
  }

  /** Opens a regular file of the jail for reading: `{ transfer, size, name, modified }`. */
  async openRead(jail: ServerJail, serverId: string, path: string): Promise<{ transfer: string; size: number; name: string; modified: string }> {
    this.assertRoom(serverId);
    const parts = parseEntryPath(path);
    const { handle, stat } = await jail.openFile(parts);
    const transfer = randomBytes(16).toString('hex');
    this.transfers.set(transfer, { kind: 'read', serverId, handle, size: stat.size, idle: this.idleTimer(transfer) });
    return { transfer, size: stat.size, name: parts[parts.length - 1], modified: stat.mtime.toISOString() };
  }

  /**
   * Makes the hidden temporary file of an upload beside `path` (parents created); `expectedBytes`
   * that cannot fit in the disk limit is refused before anything is made.
   */
  async openWrite(jail: ServerJail, serverId: string, path: string, expectedBytes?: number): Promise<{ transfer: string }> {
    this.assertRoom(serverId);
    const target = parseEntryPath(path);
    if (expectedBytes !== undefined) jail.quota.check(expectedBytes);
    // The target must be a place a file can go: not a directory (the commit would fail after all the bytes).
    const existing = await jail.entry(target, { follow: true, createParents: true });
    await existing.dir.handle.close();
    if (existing.stat?.isDirectory()) throw new DomainError('ALREADY_EXISTS', `/${target.join('/')} is a directory`);
    const transfer = randomBytes(16).toString('hex');
    const temp = [...target.slice(0, -1), temporaryName(transfer)];
    const handle = await jail.createFile(temp, true);
    try {
      const writer = await QuotaWriter.of(jail.quota, handle);
      this.transfers.set(transfer, { kind: 'write', serverId, jail, handle, writer, temp, target, end: 0, idle: this.idleTimer(transfer), closed: false });
    } catch (error) {
      await handle.close();
      await jail.remove(temp).catch(() => undefined);
      throw error;
    }
    return { transfer };
  }

  /** Moves a complete upload into place (replacing a file there): `{ size }`. A short one is 409 and removed. */
  async commitWrite(serverId: string, transfer: string, path: string, size: number): Promise<{ size: number }> {
    const t = this.transfers.get(transfer);
    if (!t || t.kind !== 'write' || t.serverId !== serverId || t.closed) throw new NotFoundError('Transfer', transfer);
    if (parseEntryPath(path).join('/') !== t.target.join('/')) throw new ConflictError('The commit names another path than the transfer was opened for');
    t.closed = true;
    try {
      const stat = await t.handle.stat();
      if (stat.size !== size || t.end !== size) throw new ConflictError(`The upload has ${stat.size} bytes, not the ${size} announced`);
      await t.writer.settle();
      await t.handle.close();
      await t.jail.replace(t.temp, t.target);
      this.forget(transfer);
      return { size };
    } catch (error) {
      await this.end(transfer);
      throw error;
    }
  }

  private assertRoom(serverId: string): void {
    let open = 0;
    for (const t of this.transfers.values()) if (t.serverId === serverId) open++;
    if (open >= MAX_TRANSFERS_PER_SERVER) throw new DomainError('RATE_LIMITED', `At most ${MAX_TRANSFERS_PER_SERVER} transfers of one server may be open at once`);
  }

  private idleTimer(transfer: string): NodeJS.Timeout {
    const timer = setTimeout(() => void this.end(transfer).catch(() => undefined), this.idleMs);
    timer.unref();
    return timer;
  }

  private touch(transfer: string, t: Transfer): void {
    clearTimeout(t.idle);
    t.idle = this.idleTimer(transfer);
  }

  private forget(transfer: string): void {
    const t = this.transfers.get(transfer);
    if (t) clearTimeout(t.idle);
    this.transfers.delete(transfer);
  }

  /** Closes a transfer; an upload not committed is aborted: its temporary file removed (nothing partial stays). */
  private async end(transfer: string): Promise<void> {
    const t = this.transfers.get(transfer);
    if (!t) return;
    this.forget(transfer);
    if (t.kind === 'read') return t.handle.close();
    t.closed = true;
    await t.writer.settle().catch(() => undefined);
    await t.handle.close().catch(() => undefined);
    await t.jail.remove(t.temp).catch(() => undefined);
  }

  private async dispatch(msg: Msg): Promise<void> {
    // agent.<nodeId>.xfer.<transfer>.<op>
    const [, , , transfer, op] = msg.subject.split('.');
    try {
      const t = this.transfers.get(transfer);
      if (op === 'close') {
        await this.end(transfer);
        return void msg.respond(new Uint8Array());
      }
      if (!t) throw this.failures.get(transfer) ?? new NotFoundError('Transfer', transfer);
      this.touch(transfer, t);
      if (op === 'read' && t.kind === 'read') return void msg.respond(await this.read(t, msg));
      if (op === 'write' && t.kind === 'write') {
        await this.write(transfer, t, msg);
        return void msg.respond(new Uint8Array());
      }
      throw new DomainError('BAD_REQUEST', `A ${t.kind} transfer has no ${op}`);
    } catch (error) {
      const e = error as DomainError;
      const h = headers();
      h.set(SERVER_FILE_TRANSFER.errorHeader, JSON.stringify({ error: e instanceof DomainError ? e.message : 'The transfer failed', code: e.code ?? 'INTERNAL', ...(e.details !== undefined ? { details: e.details } : {}) }));
      msg.respond(new Uint8Array(), { headers: h });
    }
  }

  /** Up to `length` bytes at `offset`, never past the size the file had when opened. */
  private async read(t: Extract<Transfer, { kind: 'read' }>, msg: Msg): Promise<Uint8Array> {
    const parsed = readRequestSchema.safeParse(msg.data.length ? json.decode(msg.data) : undefined);
    if (!parsed.success) throw new DomainError('VALIDATION_FAILED', 'A read is { offset, length }');
    const { offset, length } = parsed.data;
    const want = Math.max(0, Math.min(length, t.size - offset));
    // Filled whole below, or the request fails: no need to zero it first.
    const buffer = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await t.handle.read(buffer, got, want - got, offset + got);
      // The server's process shortened the file while it was read: the download must not end short and look whole.
      if (bytesRead === 0) throw new ConflictError('The file changed while it was read');
      got += bytesRead;
    }
    return buffer;
  }

  /** Writes one chunk at its offset; the disk limit refuses it (and the whole transfer) when it does not fit. */
  private async write(transfer: string, t: Extract<Transfer, { kind: 'write' }>, msg: Msg): Promise<void> {
    if (t.closed) throw this.failures.get(transfer) ?? new NotFoundError('Transfer', transfer);
    const offset = Number(msg.headers?.get(SERVER_FILE_TRANSFER.offsetHeader));
    if (!Number.isSafeInteger(offset) || offset < 0) throw new DomainError('VALIDATION_FAILED', `A write needs the ${SERVER_FILE_TRANSFER.offsetHeader} header`);
    if (msg.data.length > SERVER_FILE_TRANSFER.chunkBytes) throw new DomainError('PAYLOAD_TOO_LARGE', `A chunk is at most ${SERVER_FILE_TRANSFER.chunkBytes} bytes`);
    try {
      await t.writer.write(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.length), offset);
    } catch (error) {
      // Refused or failed: nothing of the upload stays.
      this.failures.set(transfer, error);
      setTimeout(() => this.failures.delete(transfer), this.idleMs).unref();
      await this.end(transfer);
      throw error;
    }
    t.end = Math.max(t.end, offset + msg.data.length);
  }
}
