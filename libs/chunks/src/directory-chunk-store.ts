import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { assertChunkBytes, assertChunkHash, type ChunkStore, type ChunkStoreStats, type DeleteChunkOptions, type PutChunkOptions, type StoredChunk } from './chunk-store';

const HASH = /^[0-9a-f]{64}$/;
const FAN_OUT = /^[0-9a-f]{2}$/;
/** `.tmp-<hash>-<random>` (a write in progress) or `.gc-<hash>-<random>` (a delete in progress). */
const LEFTOVER = /^\.(tmp|gc)-([0-9a-f]{64})-[0-9a-f]+$/;

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}


/** Options of DirectoryChunkStore. */
export interface DirectoryChunkStoreOptions {
  /** A write or delete in progress takes milliseconds: a `.tmp-`/`.gc-` file untouched this long was left by a crash. @default 600000 (10 min) */
  leftoverAgeMs?: number;
}

/**
 * Chunks as files on one machine: `<dir>/<first two hex digits>/<hash>`. A write goes to a
 * temporary file in the same folder, is fsynced, renamed over the final name and the folder fsynced,
 * so a crash leaves either the whole chunk or none of it. Reads verify the hash. The file's mtime
 * is the chunk's `storedAt`. `list` cleans up after crashes: it removes old `.tmp-` files and puts
 * back chunks a delete had moved aside.
 */
export class DirectoryChunkStore implements ChunkStore {
  private readonly leftoverAgeMs: number;

  constructor(
    readonly dir: string,
    options: DirectoryChunkStoreOptions = {},
  ) {
    this.leftoverAgeMs = options.leftoverAgeMs ?? 10 * 60_000;
  }

  private pathOf(hash: string): string {
    assertChunkHash(hash);
    return join(this.dir, hash.slice(0, 2), hash);
  }

  async has(hash: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(hash))).isFile();
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async put(hash: string, data: Uint8Array, options: PutChunkOptions = {}): Promise<void> {
    const path = this.pathOf(hash);
    if (!options.hashed) assertChunkBytes(hash, data, 'put');
    const now = new Date();
    try {
      // Already stored: renew storedAt so a collection that listed it before now spares it.
      await utimes(path, now, now);
      return;
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    const folder = join(this.dir, hash.slice(0, 2));
    await mkdir(folder, { recursive: true });
    const temporary = join(folder, `.tmp-${hash}-${randomBytes(6).toString('hex')}`);
    try {
      const file = await open(temporary, 'wx', 0o600);
      try {
        await file.writeFile(data);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temporary, path);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw new Error(`chunks/directory: failed to write chunk ${hash}`, { cause: error });
    }
    await syncFolder(folder);
  }

  async get(hash: string): Promise<Buffer | undefined> {
    let data: Buffer;
    try {
      data = await readFile(this.pathOf(hash));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    assertChunkBytes(hash, data, `file ${this.pathOf(hash)}`);
    return data;
  }

  async delete(hash: string, options: DeleteChunkOptions = {}): Promise<boolean> {
    const path = this.pathOf(hash);
    if (!options.storedBefore) {
      try {
        await unlink(path);
        return true;
      } catch (error) {
        if (isMissing(error)) return false;
        throw error;
      }
    }
    // Move it aside first, then look at its age: a put that renews it between our look and our
    // unlink would otherwise lose it. Chunks are content-addressed, so putting back a copy over
    // one written meanwhile changes nothing.
    const aside = join(this.dir, hash.slice(0, 2), `.gc-${hash}-${randomBytes(6).toString('hex')}`);
    try {
      await rename(path, aside);
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    if ((await stat(aside)).mtime >= options.storedBefore) {
      await rename(aside, path);
      return false;
    }
    await unlink(aside);
    return true;
  }

  async stats(): Promise<ChunkStoreStats> {
    let chunks = 0;
    let bytes = 0;
    for await (const chunk of this.list()) {
      chunks++;
      bytes += chunk.size;
    }
    return { chunks, bytes };
  }

  /**
   * A leftover of a crash: a partial write is removed; a chunk a delete moved aside is put back
   * (the delete never decided, and the next collection judges it again). Content-addressed, so
   * putting it back over a copy written meanwhile changes nothing.
   */
  private async recover(path: string, kind: 'tmp' | 'gc', hash: string): Promise<void> {
    try {
      // ctime: the last write or rename of the file (a chunk moved aside keeps its old mtime).
      if (Date.now() - (await stat(path)).ctimeMs < this.leftoverAgeMs) return;
      if (kind === 'tmp') await unlink(path);
      else await rename(path, this.pathOf(hash));
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }

  async *list(): AsyncGenerator<StoredChunk> {
    let folders: string[];
    try {
      folders = await readdir(this.dir);
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    for (const folder of folders.filter((f) => FAN_OUT.test(f))) {
      let names: string[];
      try {
        names = await readdir(join(this.dir, folder));
      } catch (error) {
        if (isMissing(error)) continue;
        throw error;
      }
      const leftovers = names.map((name) => LEFTOVER.exec(name)).filter((match) => match !== null);
      for (const [name, kind, hash] of leftovers) await this.recover(join(this.dir, folder, name), kind as 'tmp' | 'gc', hash);
      // A chunk put back is listed too.
      if (leftovers.length) names = await readdir(join(this.dir, folder));
      for (const hash of names) {
        if (!HASH.test(hash) || hash.slice(0, 2) !== folder) continue;
        try {
          const info = await stat(join(this.dir, folder, hash));
          if (info.isFile()) yield { hash, size: info.size, storedAt: info.mtime };
        } catch (error) {
          if (!isMissing(error)) throw error;
        }
      }
    }
  }
}

/** Makes a rename inside `folder` durable. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
