import { open, truncate, type FileHandle } from 'node:fs/promises';
import { LineSplitter } from '../console-lines';

const READ_CHUNK = 64 * 1024;

/** Follows a log file another process appends to, from a byte offset, line by line. */
export class LogTail {
  private handle?: FileHandle;
  private closed = false;
  private readonly splitter: LineSplitter;

  /**
   * @param path file to follow (may not exist yet)
   * @param offset byte position to start from (saved by a previous agent to resume without loss)
   */
  constructor(
    readonly path: string,
    public offset: number,
    onLine: (line: string) => void,
  ) {
    this.splitter = new LineSplitter(onLine);
  }

  /** Reads whatever was appended since the last call; returns whether anything was read. */
  async poll(): Promise<boolean> {
    if (this.closed) return false;
    if (!this.handle) {
      try {
        this.handle = await open(this.path, 'r');
      } catch {
        return false;
      }
    }
    const { size } = await this.handle.stat();
    // Someone truncated the file (an operator, or we did): start over at its beginning.
    if (size < this.offset) this.offset = 0;
    let read = false;
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    while (this.offset < size) {
      const { bytesRead } = await this.handle.read(buffer, 0, Math.min(READ_CHUNK, size - this.offset), this.offset);
      if (bytesRead === 0) break;
      this.offset += bytesRead;
      this.splitter.push(buffer.subarray(0, bytesRead));
      read = true;
    }
    return read;
  }

  /**
   * Empties the file once everything was read and it grew past maxBytes.
   * The writer opened it with O_APPEND, so its next write lands at the new end; a write racing
   * this call may be lost, which is the price of not copying the log.
   */
  async truncateIfOver(maxBytes: number): Promise<void> {
    if (this.offset < maxBytes) return;
    await this.poll();
    await truncate(this.path, 0);
    this.offset = 0;
  }

  /** Emits the last partial line and closes the file. */
  async close(flush: boolean): Promise<void> {
    this.closed = true;
    if (flush) this.splitter.flush();
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }
}
