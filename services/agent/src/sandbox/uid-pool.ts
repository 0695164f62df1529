import { randomInt } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';

/** A range of uids, as `AGENT_SERVER_UIDS=200000-249999`. */
export interface UidRange {
  /** First uid of the range. */
  first: number;
  /** Last uid of the range (inclusive). */
  last: number;
}

/** Parses `first-last`; undefined for anything else (uid 0 and inverted ranges included). */
export function parseUidRange(text: string | undefined): UidRange | undefined {
  const match = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text ?? '');
  if (!match) return undefined;
  const [first, last] = [Number(match[1]), Number(match[2])];
  return first >= 1000 && last >= first && last < 2 ** 32 - 1 ? { first, last } : undefined;
}

/**
 * Hands out one uid per key (a server id, a job id) from a range, never the same uid to two keys at
 * once. With a file the assignment is persisted (write-then-rename), so a server keeps its uid, and
 * the owner of its files, across agent restarts. Picks at random inside the range, so two agents on
 * one machine sharing a range rarely meet (give them disjoint ranges to be sure).
 */
export class UidPool {
  private assigned: Map<string, number> | undefined;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly range: UidRange,
    /** JSON file `{ key: uid }`; in memory only when absent. */
    private readonly file?: string,
  ) {}

  /** The key's uid, allocating one the first time. Throws when the range is exhausted. */
  allocate(key: string): Promise<number> {
    return this.serial(async (assigned) => {
      const known = assigned.get(key);
      if (known !== undefined) return known;
      const size = this.range.last - this.range.first + 1;
      const taken = new Set(assigned.values());
      if (taken.size >= size) throw new Error(`sandbox: no free uid left in ${this.range.first}-${this.range.last}`);
      let uid = this.range.first + randomInt(size);
      while (taken.has(uid)) uid = uid === this.range.last ? this.range.first : uid + 1;
      assigned.set(key, uid);
      await this.save(assigned);
      return uid;
    });
  }

  /** Gives the key's uid back. Unknown key is not an error. */
  release(key: string): Promise<void> {
    return this.serial(async (assigned) => {
      if (assigned.delete(key)) await this.save(assigned);
    });
  }

  private serial<T>(action: (assigned: Map<string, number>) => Promise<T>): Promise<T> {
    const run = async () => action((this.assigned ??= await this.load()));
    const result = this.lock.then(run, run);
    this.lock = result.catch(() => undefined);
    return result;
  }

  private async load(): Promise<Map<string, number>> {
    if (!this.file) return new Map();
    try {
      const saved = JSON.parse(await readFile(this.file, 'utf8')) as Record<string, number>;
      return new Map(Object.entries(saved).filter(([, uid]) => Number.isInteger(uid) && uid > 0));
    } catch {
      return new Map();
    }
  }

  private async save(assigned: Map<string, number>): Promise<void> {
    if (!this.file) return;
    await writeFile(`${this.file}.tmp`, JSON.stringify(Object.fromEntries(assigned)), { mode: 0o600 });
    await rename(`${this.file}.tmp`, this.file);
  }
}
