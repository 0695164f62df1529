import { StringDecoder } from 'node:string_decoder';

/** Turns chunks of a byte stream into lines without their line ending; a multi-byte character split across chunks stays whole. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  /**
   * @param onLine receives each complete line, without '\n' or a trailing '\r'
   * @param maxLineLength a longer line is emitted in pieces of this length, so one endless line cannot grow memory @default 65536
   */
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineLength = 65536,
  ) {}

  /** Feeds a chunk. */
  push(chunk: Buffer | string): void {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let newline: number;
    while ((newline = this.pending.indexOf('\n')) !== -1) {
      const line = this.pending.slice(0, newline);
      this.pending = this.pending.slice(newline + 1);
      this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    while (this.pending.length > this.maxLineLength) {
      this.onLine(this.pending.slice(0, this.maxLineLength));
      this.pending = this.pending.slice(this.maxLineLength);
    }
  }

  /** Emits what is left as a last line (the stream ended without a final newline). */
  flush(): void {
    this.pending += this.decoder.end();
    if (this.pending.length > 0) this.onLine(this.pending);
    this.pending = '';
  }
}

/** Collects a stream's output up to a byte cap and counts what it dropped. */
export class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Bytes that did not fit. */
  dropped = 0;

  /** @param capBytes bytes kept at most @default 1 MiB */
  constructor(private readonly capBytes = 1024 * 1024) {}

  /** Appends a chunk; returns false once the cap is reached (the rest was dropped). */
  push(chunk: Buffer): boolean {
    const room = this.capBytes - this.kept;
    if (room >= chunk.length) {
      this.chunks.push(chunk);
      this.kept += chunk.length;
      return true;
    }
    if (room > 0) this.chunks.push(chunk.subarray(0, room));
    this.kept += Math.max(room, 0);
    this.dropped += chunk.length - Math.max(room, 0);
    return false;
  }

  /** Whether anything was dropped. */
  get truncated(): boolean {
    return this.dropped > 0;
  }

  /** The kept output as UTF-8, followed by a marker line when something was dropped. */
  text(): string {
    const text = Buffer.concat(this.chunks).toString('utf8');
    return this.truncated ? `${text}\n[output truncated: ${this.dropped} more bytes]\n` : text;
  }
}
