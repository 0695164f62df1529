import { DomainError, NotFoundError, SERVER_FILE_TEXT_MAX_BYTES, type Page, type ServerFileContents, type ServerFileEntry } from '@encedeus/contracts';
import { DiskQuota, QuotaWriter } from './disk-quota';
import { copyName, modeText, parseClientPath, parseEntryPath, parseMode } from './jail-path';
import { MAX_EXTRACT_BYTES } from './server-archives';
import { ServerJail } from './server-jail';
import type { Stats } from 'node:fs';

/** What `type` a listing shows for an lstat result. */
function typeOf(stat: Stats): ServerFileEntry['type'] {
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isDirectory()) return 'directory';
  if (stat.isFile()) return 'file';
  return 'other';
}

function tooLarge(what: string, size: number): DomainError {
  return new DomainError('PAYLOAD_TOO_LARGE', `${what} is ${size} bytes; at most ${SERVER_FILE_TEXT_MAX_BYTES} go through contents/write (use download/upload)`, { size, max: SERVER_FILE_TEXT_MAX_BYTES });
}

/**
 * The file-manager verbs on one server's directory, each through the jail (server-jail.ts). Paths
 * arrive as client text and are parsed here (400 for `..`, NUL, over-long names).
 */
export class ServerFiles {
  private constructor(private readonly jail: ServerJail) {}

  /** The file manager of one server directory; writes count against `quota` (413 DISK_QUOTA_EXCEEDED past it). */
  static async open(root: string, quota?: DiskQuota): Promise<ServerFiles> {
    return new ServerFiles(await ServerJail.of(root, quota));
  }

  get serverJail(): ServerJail {
    return this.jail;
  }

  /** One page of a directory, sorted by name; the cursor is the last name of the previous page. No entry cap beyond `limit`. */
  async list(path: string, limit: number, cursor?: string): Promise<Page<ServerFileEntry>> {
    const parts = parseClientPath(path);
    const after = cursor === undefined ? undefined : Buffer.from(cursor, 'base64url').toString('utf8');
    const { dir, names } = await this.jail.names(parts);
    try {
      const start = after === undefined ? 0 : names.findIndex((n) => n > after);
      const page = start < 0 ? [] : names.slice(start, start + limit);
      const items: ServerFileEntry[] = [];
      for (const name of page) {
        const stat = await this.jail.lstatIn(dir, name);
        if (!stat) continue;
        items.push({ name, type: typeOf(stat), size: stat.size, mode: modeText(stat.mode), modified: stat.mtime.toISOString() });
      }
      const more = start >= 0 && start + limit < names.length;
      return { items, nextCursor: more && page.length ? Buffer.from(page[page.length - 1], 'utf8').toString('base64url') : null };
    } finally {
      await dir.handle.close();
    }
  }

  /** A regular file's bytes (base64), up to SERVER_FILE_TEXT_MAX_BYTES; larger is 413. */
  async contents(path: string): Promise<ServerFileContents> {
    const { handle, stat } = await this.jail.openFile(parseEntryPath(path));
    try {
      if (stat.size > SERVER_FILE_TEXT_MAX_BYTES) throw tooLarge(path, stat.size);
      const buffer = Buffer.alloc(SERVER_FILE_TEXT_MAX_BYTES + 1);
      let size = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, size, buffer.length - size, null);
        if (bytesRead === 0) break;
        size += bytesRead;
        // The file grew past the cap after fstat.
        if (size > SERVER_FILE_TEXT_MAX_BYTES) throw tooLarge(path, size);
      }
      return { data: buffer.subarray(0, size).toString('base64'), size };
    } finally {
      await handle.close();
    }
  }

  /** Creates or replaces a file (parents created) with `data` (base64). */
  async write(path: string, data: string): Promise<{ size: number }> {
    const bytes = Buffer.from(data, 'base64');
    if (bytes.length > SERVER_FILE_TEXT_MAX_BYTES) throw tooLarge('The body', bytes.length);
    const parts = parseEntryPath(path);
    // Refused before the file is created or truncated: a write that does not fit changes nothing.
    this.jail.quota.check(bytes.length);
    const handle = await this.jail.createFile(parts);
    const out = await QuotaWriter.of(this.jail.quota, handle);
    try {
      await out.write(bytes);
      await out.settle();
    } finally {
      await handle.close();
    }
    return { size: bytes.length };
  }

  async rename(from: string, to: string): Promise<void> {
    await this.jail.rename(parseEntryPath(from), parseEntryPath(to));
  }

  /** Copies a regular file beside itself as `<name> copy<.ext>` (then `copy 2`, …); answers the new name. */
  async copy(path: string): Promise<{ name: string }> {
    const parts = parseEntryPath(path);
    const { handle: source, stat } = await this.jail.openFile(parts);
    try {
      // A sparse file of terabytes takes no disk until it is copied densely.
      if (stat.size > MAX_EXTRACT_BYTES) throw new DomainError('PAYLOAD_TOO_LARGE', `${path} is ${stat.size} bytes; at most ${MAX_EXTRACT_BYTES} are copied`, { reason: 'too_large', size: stat.size, max: MAX_EXTRACT_BYTES });
      const dir = parts.slice(0, -1);
      for (let attempt = 1; attempt <= 50; attempt++) {
        const name = copyName(parts[parts.length - 1], attempt);
        let target;
        try {
          target = await this.jail.createFile([...dir, name], true);
        } catch (error) {
          if ((error as DomainError).code === 'ALREADY_EXISTS') continue;
          throw error;
        }
        const out = await QuotaWriter.of(this.jail.quota, target);
        try {
          const chunk = Buffer.alloc(1024 * 1024);
          let position = 0;
          // Up to the size it had when opened: a file the server's process keeps growing must not copy forever.
          while (position < stat.size) {
            const { bytesRead } = await source.read(chunk, 0, Math.min(chunk.length, stat.size - position), position);
            if (bytesRead === 0) break;
            // A copy is dense: a sparse file of gigabytes takes its full size here, counted as it is written.
            await out.write(chunk.subarray(0, bytesRead));
            position += bytesRead;
          }
          await out.settle();
        } catch (error) {
          // Nothing partial is left: a copy refused at the disk limit (or failing) is removed.
          await out.settle().catch(() => undefined);
          await target.close();
          await this.jail.remove([...dir, name]).catch(() => undefined);
          throw error;
        }
        await target.close();
        return { name: '/' + [...dir, name].join('/') };
      }
      throw new DomainError('ALREADY_EXISTS', `Too many copies of ${path} already exist`);
    } finally {
      await source.close();
    }
  }

  /** Deletes every path (directories with their contents); all are parsed before any is deleted. */
  async delete(paths: string[]): Promise<{ deleted: number }> {
    const parsed = paths.map(parseEntryPath);
    let deleted = 0;
    for (const parts of parsed) {
      try {
        await this.jail.remove(parts);
        deleted++;
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
      }
    }
    return { deleted };
  }

  async mkdir(path: string): Promise<void> {
    await this.jail.mkdir(parseEntryPath(path));
  }

  async chmod(path: string, mode: string | number): Promise<void> {
    await this.jail.chmod(parseEntryPath(path), parseMode(mode));
  }
}
