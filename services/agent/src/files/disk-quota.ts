import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { DomainError } from '@encedeus/contracts';
import { directorySize } from '../drivers/disk-usage';

const MIB = 1024 * 1024;

/** Bytes a file occupies on disk: allocated blocks (a sparse file counts what it really holds). */
export function allocatedBytes(stat: Pick<Stats, 'blocks'>): number {
  return stat.blocks * 512;
}

/** 413 `DISK_QUOTA_EXCEEDED`: the write would take the server past `limits.disk_mb`. */
export class DiskQuotaExceededError extends DomainError {
  constructor(limitBytes: number, usedBytes: number, wantedBytes: number) {
    super('DISK_QUOTA_EXCEEDED', `The server's disk limit is ${limitBytes} bytes and ${usedBytes} are used; ${wantedBytes} more do not fit`, {
      limit_bytes: limitBytes,
      used_bytes: usedBytes,
      wanted_bytes: wantedBytes,
    });
  }
}

/**
 * One server's disk use as the file manager, SFTP and transfers count it: allocated bytes of the
 * server's directory (what `directorySize` measures, the figure the drivers enforce), counted once
 * by a walk and then moved by every write, truncation and delete the agent makes. A write is checked
 * before it happens with its length (an upper bound of what it allocates) and corrected to the
 * file's real blocks when it ends (`QuotaWriter.settle`).
 */
export class DiskQuota {
  /** Sum of every `add` so far: a recount started at some moment keeps what was added after it. */
  private added = 0;

  constructor(
    /** 0: no limit. */
    public limitBytes: number,
    private used: number,
  ) {}

  /** A quota that never refuses (a jail opened without one: tests, tools). */
  static unlimited(): DiskQuota {
    return new DiskQuota(0, 0);
  }

  get usedBytes(): number {
    return this.used;
  }

  /** Bytes still free under the limit (Infinity without one). */
  get availableBytes(): number {
    return this.limitBytes > 0 ? Math.max(0, this.limitBytes - this.used) : Infinity;
  }

  /** Refuses (413 DISK_QUOTA_EXCEEDED) when `bytes` more would pass the limit; counts nothing. */
  check(bytes: number): void {
    if (this.limitBytes > 0 && bytes > 0 && this.used + bytes > this.limitBytes) throw new DiskQuotaExceededError(this.limitBytes, this.used, bytes);
  }

  /** Checks, then counts `bytes` (synchronous: two writes racing cannot both pass the last free bytes). */
  take(bytes: number): void {
    this.check(bytes);
    this.add(bytes);
  }

  /** Counts `bytes` more in use (negative: freed), never refusing. */
  add(bytes: number): void {
    this.used = Math.max(0, this.used + bytes);
    this.added += bytes;
  }

  /** Marks where a recount starts; `recounted` applies its walk plus what was added since. */
  mark(): number {
    return this.added;
  }

  recounted(walked: number, mark: number): void {
    this.used = Math.max(0, walked + (this.added - mark));
  }
}

/**
 * Writes to one open file counted against a quota: each write is taken before it happens (its
 * length), and `settle` replaces what was taken by what the file really gained in allocated blocks
 * (an overwrite allocates nothing; a sparse write little). Settled by itself every `settleEvery`
 * bytes, so a long rewrite of an existing file near the limit is not refused for bytes it never adds.
 * Writes may run concurrently (an upload's chunks in flight, SFTP's pipelined writes).
 */
export class QuotaWriter {
  private taken = 0;
  private readonly writing = new Set<Promise<unknown>>();

  private constructor(
    private readonly quota: DiskQuota,
    readonly handle: FileHandle,
    private allocated: number,
    private readonly settleEvery: number,
  ) {}

  static async of(quota: DiskQuota, handle: FileHandle, settleEvery = 64 * MIB): Promise<QuotaWriter> {
    return new QuotaWriter(quota, handle, allocatedBytes(await handle.stat()), settleEvery);
  }

  /** Writes `data` at `position` (null: the file's current position) once the quota allows it. */
  async write(data: Buffer, position: number | null = null): Promise<void> {
    if (this.taken + data.length > this.settleEvery) await this.settle();
    this.quota.take(data.length);
    this.taken += data.length;
    const written = this.handle.write(data, 0, data.length, position);
    this.writing.add(written);
    try {
      await written;
    } finally {
      this.writing.delete(written);
    }
  }

  /** Counts what the file occupies now instead of what the writes took. Call before closing. */
  async settle(): Promise<void> {
    // A write in flight has taken its bytes but may not be in the blocks yet: a stat before it lands
    // would drop them from the count, and removing the file later (its real blocks) would free them
    // twice. Writes begun during the stat stay taken; the next settle counts them.
    await Promise.allSettled(this.writing);
    const taken = this.taken;
    const now = allocatedBytes(await this.handle.stat());
    this.quota.add(now - this.allocated - taken);
    this.allocated = now;
    this.taken -= taken;
  }
}

/** Where the quotas come from: a server's limit and directory. */
export interface DiskQuotaSource {
  /** `limits.disk_mb` of a server this agent runs (0: none), undefined when it runs no such server. */
  limitMb(serverId: string): number | undefined;
  dir(serverId: string): string;
}

/**
 * The quota of each server, counted by one walk of its directory the first time it is needed and
 * again in the background at most every `recountMs` while it is used: the server's own process
 * writes too, and only a walk sees that. Never a walk per write.
 */
export class DiskQuotas {
  private readonly quotas = new Map<string, { quota: Promise<DiskQuota>; countedAt: number; recounting: boolean }>();

  constructor(
    private readonly source: DiskQuotaSource,
    /** @default 60000 */
    private readonly recountMs = 60_000,
  ) {}

  /** The quota of a server (its limit read again each time: limits change). */
  async of(serverId: string): Promise<DiskQuota> {
    const limitBytes = (this.source.limitMb(serverId) ?? 0) * MIB;
    let entry = this.quotas.get(serverId);
    if (!entry) {
      const quota = directorySize(this.source.dir(serverId)).then((used) => new DiskQuota(limitBytes, used));
      entry = { quota, countedAt: Date.now(), recounting: false };
      this.quotas.set(serverId, entry);
      quota.catch(() => this.quotas.delete(serverId));
    }
    const quota = await entry.quota;
    quota.limitBytes = limitBytes;
    if (Date.now() - entry.countedAt > this.recountMs && !entry.recounting) this.recount(serverId, entry, quota);
    return quota;
  }

  /** Forgets a removed server. */
  forget(serverId: string): void {
    this.quotas.delete(serverId);
  }

  private recount(serverId: string, entry: { countedAt: number; recounting: boolean }, quota: DiskQuota): void {
    entry.recounting = true;
    const mark = quota.mark();
    void directorySize(this.source.dir(serverId))
      .then((walked) => quota.recounted(walked, mark))
      .catch(() => undefined)
      .finally(() => {
        entry.recounting = false;
        entry.countedAt = Date.now();
      });
  }
}
