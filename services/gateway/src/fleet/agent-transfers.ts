import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode as NatsErrorCode, headers, JSONCodec, type MsgHdrs, type NatsConnection } from 'nats';
import { DomainError, SERVER_FILE_TRANSFER, type ErrorBody, type ServerFileReadTransfer, type ServerFileWriteTransfer } from '@encedeus/contracts';
import { NATS_CONNECTION } from '@encedeus/messaging';

const json = JSONCodec<unknown>();
/** One chunk's round trip: a slow disk on the node, never minutes. */
const CHUNK_TIMEOUT_MS = 30_000;

/** Cuts a byte stream into pieces of exactly `size` bytes (the last one shorter), copying only what straddles. */
export async function* rechunk(source: AsyncIterable<Buffer | Uint8Array | string>, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of source) {
    let buf = typeof piece === 'string' ? Buffer.from(piece) : Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (pendingBytes + buf.length >= size) {
      const take = size - pendingBytes;
      pending.push(buf.subarray(0, take));
      yield pending.length === 1 ? pending[0] : Buffer.concat(pending, size);
      buf = buf.subarray(take);
      pending = [];
      pendingBytes = 0;
    }
    if (buf.length) {
      pending.push(buf);
      pendingBytes += buf.length;
    }
  }
  if (pendingBytes) yield Buffer.concat(pending, pendingBytes);
}

/**
 * The gateway's side of a streamed transfer of server files (SERVER_FILE_TRANSFER in contracts):
 * after the nodes service opened one on the server's agent, the bytes go on
 * `agent.<nodeId>.xfer.<transfer>.<op>`, a chunk per request with at most `window` in flight. A
 * download is read only as fast as the HTTP client takes it; an upload is read from the client only as
 * fast as the agent writes. Nothing holds more than the chunks in flight.
 */
@Injectable()
export class AgentTransfers {
  constructor(@Inject(NATS_CONNECTION) private readonly nc: NatsConnection) {}

  /** The file's bytes in order (exactly `size` of them); the transfer is closed when the reader stops. */
  async *read(t: ServerFileReadTransfer): AsyncGenerator<Buffer> {
    const { chunkBytes, window } = SERVER_FILE_TRANSFER;
    const subject = SERVER_FILE_TRANSFER.subject(t.node_id, t.transfer, 'read');
    const pending: Promise<Uint8Array>[] = [];
    let next = 0;
    const ask = () => {
      const offset = next;
      const length = Math.min(chunkBytes, t.size - offset);
      next += length;
      // Exactly the bytes asked for: the agent is not trusted to keep to the size it announced. More
      // would go out past Content-Length (raw bytes on a kept-alive connection: a forged next response).
      const reply = this.request(subject, json.encode({ offset, length })).then((data) => {
        if (data.byteLength !== length) throw new DomainError('SERVICE_UNAVAILABLE', `The server's node answered ${data.byteLength} bytes for a read of ${length}`, { reason: 'bad_read' });
        return data;
      });
      // Rejections of requests nobody awaits any more (the reader stopped) are not unhandled.
      reply.catch(() => undefined);
      pending.push(reply);
    };
    try {
      while (next < t.size && pending.length < window) ask();
      while (pending.length) {
        const data = await pending.shift()!;
        if (next < t.size) ask();
        yield Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      }
    } finally {
      await this.close(t).catch(() => undefined);
    }
  }

  /**
   * Sends `source` to a write transfer in chunks, `window` in flight, and answers the bytes sent.
   * `progress` hears the bytes the agent has written so far. The first refusal (the disk limit) stops it.
   */
  async write(t: ServerFileWriteTransfer, source: AsyncIterable<Buffer | Uint8Array | string>, progress?: (bytes: number) => void): Promise<number> {
    const { chunkBytes, window } = SERVER_FILE_TRANSFER;
    const subject = SERVER_FILE_TRANSFER.subject(t.node_id, t.transfer, 'write');
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    let offset = 0;
    let written = 0;
    for await (const chunk of rechunk(source, chunkBytes)) {
      while (inFlight.size >= window && !failure) await Promise.race(inFlight);
      if (failure) break;
      const h = headers();
      h.set(SERVER_FILE_TRANSFER.offsetHeader, String(offset));
      offset += chunk.length;
      const sent: Promise<void> = this.request(subject, chunk, h).then(
        () => {
          written += chunk.length;
          progress?.(written);
        },
        (error: unknown) => void (failure ??= { error }),
      );
      const tracked = sent.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    }
    await Promise.all(inFlight);
    if (failure) throw failure.error;
    return offset;
  }

  /** Closes a transfer (an upload not committed is aborted on the agent); closing twice is harmless. */
  async close(t: { node_id: string; transfer: string }): Promise<void> {
    await this.request(SERVER_FILE_TRANSFER.subject(t.node_id, t.transfer, 'close'), new Uint8Array());
  }

  /** One request; an error answer (header SERVER_FILE_TRANSFER.errorHeader) becomes its typed error. */
  private async request(subject: string, data: Uint8Array, h?: MsgHdrs): Promise<Uint8Array> {
    let reply;
    try {
      reply = await this.nc.request(subject, data, { timeout: CHUNK_TIMEOUT_MS, ...(h ? { headers: h } : {}) });
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === NatsErrorCode.NoResponders || code === '503') throw new DomainError('SERVICE_UNAVAILABLE', "The server's node is not connected");
      if (code === NatsErrorCode.Timeout) throw new DomainError('SERVICE_UNAVAILABLE', "The server's node did not answer in time", { reason: 'timeout' });
      throw new DomainError('SERVICE_UNAVAILABLE', `Cannot reach the server's node: ${(error as Error).message}`);
    }
    const failed = reply.headers?.get(SERVER_FILE_TRANSFER.errorHeader);
    if (failed) {
      let body: Partial<ErrorBody> | undefined;
      try {
        body = JSON.parse(failed) as Partial<ErrorBody>;
      } catch {
        body = undefined;
      }
      if (!body || typeof body.code !== 'string' || typeof body.error !== 'string') throw new DomainError('SERVICE_UNAVAILABLE', "The server's node answered an unreadable error", { reason: 'bad_reply' });
      throw new DomainError(body.code as ErrorBody['code'], body.error, body.details);
    }
    return reply.data;
  }
}
