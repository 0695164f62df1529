import { constants, type Stats } from 'node:fs';
import { chmod, chown, link, lstat, mkdir, open, opendir, readlink, realpath, rename, rmdir, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { ConflictError, DomainError, NotFoundError } from '@encedeus/contracts';
import { allocatedBytes, DiskQuota } from './disk-quota';
import { PathRefusedError, resolveLinkTarget } from './jail-path';

const { O_RDONLY, O_WRONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_CREAT, O_EXCL, O_TRUNC } = constants;

/** What a new directory is checked against the disk limit for before it is made (one block of ext4 and most others). */
const DIRECTORY_BYTES = 4096;

/** Most symlinks followed while resolving one path (Linux's own limit). */
const MAX_LINK_HOPS = 40;

/**
 * Linux's O_PATH (not in Node's constants): a descriptor that names an inode without opening it. A
 * FIFO or a device node is never opened through it (opening a device is an action: a watchdog reboots
 * the host); fstat tells what it is, and `/proc/self/fd/<fd>` reopens exactly that inode.
 */
export const O_PATH = 0o10000000;

/**
 * Most directory levels a recursive walk (delete, compress, extract) goes down: each level holds a
 * descriptor, and the server's process can nest directories far deeper than the agent has descriptors.
 */
export const MAX_DEPTH = 256;

/**
 * Most names one listing reads: they are all held in memory to be sorted, and the server's process
 * can fill a directory with millions. Above it 413, `reason: too_many_entries`.
 */
export const MAX_LIST_NAMES = 1_000_000;

/** A tree deeper than MAX_DEPTH: 413 with `reason: too_deep`. */
export function tooDeep(path: string): DomainError {
  return new DomainError('PAYLOAD_TOO_LARGE', `${path} is more than ${MAX_DEPTH} directories deep`, { reason: 'too_deep', max: MAX_DEPTH });
}

/**
 * The path of `name` inside the directory open as `fd`. Node has no openat(2); `/proc/self/fd/<fd>`
 * is the directory we hold open (a magic link the kernel follows to that very inode), so looking up
 * one component below it is openat(fd, name): a rename or symlink swap higher up cannot redirect it.
 */
export function at(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

const DOT = Buffer.from('.');
const DOT_DOT = Buffer.from('..');

/** `at` for a name read as bytes: the server's process may name files with bytes that are not UTF-8. */
function atBytes(fd: number, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`/proc/self/fd/${fd}/`), name]);
}

/**
 * The names in the directory open as `fd`, sorted by code unit; more than `max` is 413 (`reason:
 * too_many_entries`). Streamed: a directory of millions of names is refused after `max`, not read whole.
 */
export async function sortedNames(fd: number, path: string, max = MAX_LIST_NAMES): Promise<string[]> {
  const names: string[] = [];
  for await (const d of await opendir(at(fd), { bufferSize: 256 })) {
    if (names.length >= max) throw new DomainError('PAYLOAD_TOO_LARGE', `${path} holds more than ${max} entries`, { reason: 'too_many_entries', max });
    names.push(d.name);
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Opens `name` in the directory `dirFd` only if it is a regular file, never opening anything else
 * (see O_PATH): null when it is not one. `check` may refuse the inode before it is opened. `flags`
 * must not create.
 */
export async function openRegular(dirFd: number, name: string, flags: number, check?: (stat: Stats) => void): Promise<{ handle: FileHandle; stat: Stats } | null> {
  const path = await open(at(dirFd, name), O_PATH | O_NOFOLLOW);
  try {
    const stat = await path.stat();
    if (!stat.isFile()) return null;
    check?.(stat);
    // The magic link reopens the inode fstat just saw; O_NOFOLLOW would refuse the magic link itself.
    return { handle: await open(at(path.fd), flags | O_NONBLOCK), stat };
  } finally {
    await path.close();
  }
}

/** The errno code of a failed fs call (ENOENT, ELOOP…), if it has one. */
export function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException)?.code;
}

/** A directory of the jail held open, with its components under the root. */
export interface OpenDir {
  readonly handle: FileHandle;
  readonly parts: readonly string[];
}

/** One entry addressed through its open parent: `name` inside `dir`, as lstat saw it (null: absent). */
export interface Entry {
  readonly dir: OpenDir;
  readonly name: string;
  readonly stat: Stats | null;
}

/** How to resolve a path's last component. */
export interface ResolveOptions {
  /** Follow a symlink in the last component (when it stays in the jail). @default false */
  follow?: boolean;
  /** Create missing parent directories. @default false */
  createParents?: boolean;
}

/**
 * The server's directory as a jail. Every path is walked from the root one component at a time
 * with O_NOFOLLOW, each step relative to the directory already open (see `at`), so a symlink —
 * made by the server's own process, even while we walk — is never followed by the kernel. Symlinks
 * are followed only by us, when their target resolved lexically stays under the root; every other
 * one is refused with 400 (`reason: symlink_escape`). Files the agent (root) creates get the owner
 * of the server's directory.
 */
export class ServerJail {
  private constructor(
    readonly root: string,
    /** The root's real path: absolute symlink targets under it stay in the jail. */
    readonly rootReal: string,
    private readonly owner: { uid: number; gid: number } | null,
    /**
     * The server's disk use (disk-quota.ts). The jail moves it for what it frees (truncation, delete,
     * a replaced file); whoever writes bytes takes them first (QuotaWriter).
     */
    readonly quota: DiskQuota,
  ) {}

  /** Opens the jail of an existing server directory (404 when it does not exist); without a quota nothing is refused. */
  static async of(root: string, quota: DiskQuota = DiskQuota.unlimited()): Promise<ServerJail> {
    let st: Stats;
    let real: string;
    try {
      st = await lstat(root);
      real = await realpath(root);
    } catch (error) {
      if (errno(error) === 'ENOENT') throw new NotFoundError('Server directory');
      throw error;
    }
    if (!st.isDirectory()) throw new NotFoundError('Server directory');
    const owner = process.getuid?.() === 0 && st.uid !== 0 ? { uid: st.uid, gid: st.gid } : null;
    return new ServerJail(root, real, owner, quota);
  }

  /** Opens the directory at `parts` (symlinks inside the jail followed); the caller closes it. */
  async openDir(parts: readonly string[], createMissing = false, hops = { n: 0 }): Promise<OpenDir> {
    let cur = await open(this.root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    let where: string[] = [];
    try {
      for (let i = 0; i < parts.length; i++) {
        const name = parts[i];
        let next: FileHandle;
        try {
          next = await open(at(cur.fd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        } catch (error) {
          const code = errno(error);
          // O_NOFOLLOW|O_DIRECTORY on a symlink fails with ENOTDIR (ELOOP without O_DIRECTORY).
          if ((code === 'ELOOP' || code === 'ENOTDIR') && (await lstat(at(cur.fd, name)).catch(() => null))?.isSymbolicLink()) {
            const target = this.follow(where, name, await this.readLink(cur.fd, name, [...where, name]), hops);
            await cur.close();
            return await this.openDir([...target, ...parts.slice(i + 1)], createMissing, hops);
          }
          if (code === 'ENOENT' && createMissing && ++hops.n <= MAX_LINK_HOPS) {
            // What the agent creates stays shallower than delete and compress walk (MAX_DEPTH).
            if (where.length + 1 >= MAX_DEPTH) throw tooDeep('/' + parts.slice(0, 64).join('/'));
            // Counted like a link hop: a directory deleted again each time we create it must not loop forever.
            this.quota.check(DIRECTORY_BYTES);
            const made = await mkdir(at(cur.fd, name), 0o755).then(
              () => true,
              (e) => (errno(e) === 'EEXIST' ? false : Promise.reject(this.translate(e, [...where, name]))),
            );
            if (made) await this.countCreated(at(cur.fd, name));
            await this.own(at(cur.fd, name));
            i--;
            continue;
          }
          throw this.translate(error, [...where, name]);
        }
        await cur.close();
        cur = next;
        where = [...where, name];
      }
      await this.assertInside(cur, where);
      return { handle: cur, parts: where };
    } catch (error) {
      await cur.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Resolves a path to its entry: parent directory open, last component looked up with lstat. The
   * root itself is not an entry (callers refuse it first). With `follow`, a symlink last component
   * that stays in the jail is resolved to what it points at; one that leaves is refused.
   */
  async entry(parts: readonly string[], options: ResolveOptions = {}, hops = { n: 0 }): Promise<Entry> {
    if (parts.length === 0) throw new PathRefusedError('root', '/', "The server's root directory cannot be the target");
    const dir = await this.openDir(parts.slice(0, -1), options.createParents ?? false, hops);
    const name = parts[parts.length - 1];
    try {
      const stat = await lstat(at(dir.handle.fd, name)).catch((e) => (errno(e) === 'ENOENT' ? null : Promise.reject(e)));
      if (stat?.isSymbolicLink() && options.follow) {
        const target = this.follow(dir.parts, name, await this.readLink(dir.handle.fd, name, [...dir.parts, name]), hops);
        await dir.handle.close();
        if (target.length === 0) throw new DomainError('BAD_REQUEST', `${name} points at the server's root directory`, { reason: 'not_a_file' });
        return await this.entry(target, { ...options, createParents: false }, hops);
      }
      return { dir, name, stat };
    } catch (error) {
      await dir.handle.close().catch(() => undefined);
      throw error;
    }
  }

  /** Opens an existing regular file for reading (symlinks in the jail followed). */
  async openFile(parts: readonly string[]): Promise<{ handle: FileHandle; stat: Stats }> {
    const e = await this.entry(parts, { follow: true });
    try {
      if (!e.stat) throw new NotFoundError('File', '/' + parts.join('/'));
      if (!e.stat.isFile()) throw new DomainError('BAD_REQUEST', `/${parts.join('/')} is not a regular file`, { reason: 'not_a_file' });
      // A FIFO or device swapped in after the lstat is never opened (it could hang the agent or act).
      const opened = await openRegular(e.dir.handle.fd, e.name, O_RDONLY, (st) => this.assertNotForeign(st, parts)).catch((error) => Promise.reject(this.translate(error, parts)));
      if (!opened) throw new ConflictError(`/${parts.join('/')} changed while it was opened`);
      return opened;
    } finally {
      await e.dir.handle.close();
    }
  }

  /**
   * Opens a file for writing, created (mode 0644, owned by the server) or truncated; parents are
   * created. A symlink last component is followed only inside the jail; `exclusive` refuses an
   * existing entry with 409.
   */
  async createFile(parts: readonly string[], exclusive = false): Promise<FileHandle> {
    const e = await this.entry(parts, { follow: true, createParents: true });
    try {
      if (e.stat && exclusive) throw new DomainError('ALREADY_EXISTS', `/${[...e.dir.parts, e.name].join('/')} already exists`);
      if (e.stat && !e.stat.isFile()) throw new DomainError('BAD_REQUEST', `/${[...e.dir.parts, e.name].join('/')} is not a regular file`, { reason: 'not_a_file' });
      if (e.stat) {
        // An existing file is truncated only if it still is one (never a FIFO or device swapped in).
        const opened = await openRegular(e.dir.handle.fd, e.name, O_WRONLY | O_TRUNC, (st) => this.assertNotForeign(st, parts)).catch((error) => Promise.reject(this.translate(error, parts)));
        if (!opened) throw new ConflictError(`/${parts.join('/')} changed while it was opened`);
        // O_TRUNC freed the blocks it held (for every name of the inode).
        this.quota.add(-allocatedBytes(opened.stat));
        return opened.handle;
      }
      // A new file: O_EXCL never opens anything that appeared meanwhile.
      const handle = await open(at(e.dir.handle.fd, e.name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o644).catch((error) =>
        Promise.reject(errno(error) === 'EEXIST' && !exclusive ? new ConflictError(`/${parts.join('/')} changed while it was opened`) : this.translate(error, parts)),
      );
      if (this.owner) await handle.chown(this.owner.uid, this.owner.gid);
      return handle;
    } finally {
      await e.dir.handle.close();
    }
  }

  /** Names in a directory, sorted by code unit; more than `max` is 413 (`reason: too_many_entries`). */
  async names(parts: readonly string[], max = MAX_LIST_NAMES): Promise<{ dir: OpenDir; names: string[] }> {
    const dir = await this.openDir(parts);
    try {
      return { dir, names: await sortedNames(dir.handle.fd, '/' + dir.parts.join('/'), max) };
    } catch (error) {
      await dir.handle.close();
      throw error;
    }
  }

  /** lstat of `name` in an open directory (null when it vanished). */
  async lstatIn(dir: OpenDir, name: string): Promise<Stats | null> {
    return lstat(at(dir.handle.fd, name)).catch((e) => (errno(e) === 'ENOENT' ? null : Promise.reject(e)));
  }

  /** Creates a directory (and its parents); an existing directory is 409. */
  async mkdir(parts: readonly string[]): Promise<void> {
    const e = await this.entry(parts, { createParents: true });
    try {
      if (e.stat) throw new DomainError('ALREADY_EXISTS', `/${parts.join('/')} already exists`);
      if (e.dir.parts.length + 1 >= MAX_DEPTH) throw tooDeep('/' + parts.slice(0, 64).join('/'));
      // A directory takes blocks too: millions of empty ones must not pass the disk limit.
      this.quota.check(DIRECTORY_BYTES);
      await mkdir(at(e.dir.handle.fd, e.name), 0o755);
      await this.countCreated(at(e.dir.handle.fd, e.name));
      await this.own(at(e.dir.handle.fd, e.name));
    } finally {
      await e.dir.handle.close();
    }
  }

  /** Renames an entry (a symlink is renamed itself, never followed); an existing target is 409. */
  async rename(from: readonly string[], to: readonly string[]): Promise<void> {
    const source = await this.entry(from);
    try {
      if (!source.stat) throw new NotFoundError('File', '/' + from.join('/'));
      const target = await this.entry(to, { createParents: true });
      try {
        if (target.stat) throw new DomainError('ALREADY_EXISTS', `/${to.join('/')} already exists`);
        await rename(at(source.dir.handle.fd, source.name), at(target.dir.handle.fd, target.name)).catch((error) => Promise.reject(this.translate(error, to)));
      } finally {
        await target.dir.handle.close();
      }
    } finally {
      await source.dir.handle.close();
    }
  }

  /**
   * Renames `from` over `to`, replacing a file or link there (never a directory: 409). The replaced
   * inode's blocks are counted free when that was its last name. A transfer's commit.
   */
  async replace(from: readonly string[], to: readonly string[]): Promise<void> {
    const source = await this.entry(from);
    try {
      if (!source.stat) throw new NotFoundError('File', '/' + from.join('/'));
      const target = await this.entry(to, { createParents: true });
      try {
        if (target.stat?.isDirectory()) throw new DomainError('ALREADY_EXISTS', `/${to.join('/')} already exists as a directory`);
        await rename(at(source.dir.handle.fd, source.name), at(target.dir.handle.fd, target.name)).catch((error) => Promise.reject(this.translate(error, to)));
        if (target.stat && target.stat.nlink === 1) this.quota.add(-allocatedBytes(target.stat));
      } finally {
        await target.dir.handle.close();
      }
    } finally {
      await source.dir.handle.close();
    }
  }

  /** Removes an entry; a directory with everything in it (walked by fd, never through a symlink). */
  async remove(parts: readonly string[]): Promise<void> {
    const e = await this.entry(parts);
    try {
      if (!e.stat) throw new NotFoundError('File', '/' + parts.join('/'));
      await this.removeIn(e.dir.handle.fd, e.name, 0).catch((error) => Promise.reject(this.translate(error, parts)));
    } finally {
      await e.dir.handle.close();
    }
  }

  /** Sets permission bits of a file or directory (a symlink's target only inside the jail). */
  async chmod(parts: readonly string[], mode: number): Promise<void> {
    const e = await this.entry(parts, { follow: true });
    try {
      if (!e.stat) throw new NotFoundError('File', '/' + parts.join('/'));
      // chmod(2) follows symlinks, and opening a FIFO or device is an action: name the inode with
      // O_PATH|O_NOFOLLOW and chmod it through its magic link.
      const handle = await open(at(e.dir.handle.fd, e.name), O_PATH | O_NOFOLLOW).catch((error) => Promise.reject(this.translate(error, parts)));
      try {
        const stat = await handle.stat();
        if (stat.isSymbolicLink()) throw new ConflictError(`/${parts.join('/')} changed into a symbolic link while it was opened`);
        this.assertNotForeign(stat, parts);
        await chmod(at(handle.fd), mode);
      } finally {
        await handle.close();
      }
    } finally {
      await e.dir.handle.close();
    }
  }

  /**
   * Creates a symlink (replacing an entry of that name) whose target must stay in the jail, checked
   * against the directory it really lands in (after following in-jail links of its parents).
   */
  async symlink(parts: readonly string[], target: string): Promise<void> {
    const e = await this.entry(parts, { createParents: true });
    try {
      if (!resolveLinkTarget(e.dir.parts, target, this.rootReal)) {
        throw new PathRefusedError('symlink_escape', '/' + parts.join('/'), `A symbolic link at /${parts.join('/')} to ${target} would point outside the server's directory`);
      }
      await this.replaceable(e, parts);
      await symlink(target, at(e.dir.handle.fd, e.name));
      await this.own(at(e.dir.handle.fd, e.name));
    } finally {
      await e.dir.handle.close();
    }
  }

  /** A hard link at `parts` to the regular file `existing` (both in the jail; link(2) never follows the source). */
  async link(existing: readonly string[], parts: readonly string[]): Promise<void> {
    const source = await this.entry(existing);
    try {
      if (!source.stat?.isFile()) throw new DomainError('BAD_REQUEST', `/${existing.join('/')} is not a regular file`, { reason: 'not_a_file' });
      this.assertNotForeign(source.stat, existing);
      const e = await this.entry(parts, { createParents: true });
      try {
        await this.replaceable(e, parts);
        await link(at(source.dir.handle.fd, source.name), at(e.dir.handle.fd, e.name));
      } finally {
        await e.dir.handle.close();
      }
    } finally {
      await source.dir.handle.close();
    }
  }

  /** Counts what a directory the agent just made occupies (gone already: nothing). */
  private async countCreated(path: string): Promise<void> {
    const stat = await lstat(path).catch(() => null);
    if (stat) this.quota.add(allocatedBytes(stat));
  }

  /**
   * Makes a directory or symlink the agent created belong to the server's user. Named with O_PATH and
   * checked first: a hard link to someone else's file swapped in under that name is left alone.
   */
  async own(path: string): Promise<void> {
    if (!this.owner) return;
    // Gone already (the server's process removed it): nothing of ours to hand over.
    const handle = await open(path, O_PATH | O_NOFOLLOW).catch((error) => (errno(error) === 'ENOENT' ? null : Promise.reject(error)));
    if (!handle) return;
    try {
      const stat = await handle.stat();
      // chown of the magic link changes that inode itself, a symlink included (never its target).
      if (stat.isDirectory() || stat.isSymbolicLink()) await chown(at(handle.fd), this.owner.uid, this.owner.gid);
    } finally {
      await handle.close();
    }
  }

  /**
   * Whether an inode is a hard link to a file of another user: a name in the server's directory for a
   * file outside it (everything the agent creates there is chowned to the server's user, so only the
   * server's process can have linked it; the kernel's protected_hardlinks, when on, already limits
   * that to files it may read and write). The agent, as root, never reads, writes or chmods one.
   */
  isForeign(stat: Stats): boolean {
    return this.owner !== null && !stat.isDirectory() && stat.nlink > 1 && stat.uid !== this.owner.uid;
  }

  private assertNotForeign(stat: Stats, parts: readonly string[]): void {
    if (this.isForeign(stat)) throw new DomainError('BAD_REQUEST', `/${parts.join('/')} is a hard link to a file the server does not own`, { reason: 'foreign_link', path: '/' + parts.join('/') });
  }

  /** An entry an extracted link may replace: absent or not a directory (replacing a tree would be a delete). */
  private async replaceable(e: Entry, parts: readonly string[]): Promise<void> {
    if (!e.stat) return;
    if (e.stat.isDirectory()) throw new DomainError('ALREADY_EXISTS', `/${parts.join('/')} already exists as a directory`);
    await unlink(at(e.dir.handle.fd, e.name)).catch((error) => (errno(error) === 'ENOENT' ? undefined : Promise.reject(this.translate(error, parts))));
  }

  /**
   * Removes `name` of the directory `parentFd`: children opened with O_NOFOLLOW, removed by name
   * (unlink never follows); names as bytes (the server's may not be UTF-8); at most MAX_DEPTH deep.
   */
  private async removeIn(parentFd: number, name: string | Buffer, depth: number): Promise<void> {
    const path = typeof name === 'string' ? at(parentFd, name) : atBytes(parentFd, name);
    let dir: FileHandle | undefined;
    try {
      dir = await open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (error) {
      // Not a directory (or a symlink to one): unlink the entry itself; its blocks are free when that was its last name.
      if (errno(error) === 'ENOTDIR' || errno(error) === 'ELOOP') {
        const stat = await lstat(path).catch(() => null);
        const unlinked = await unlink(path).then(
          () => true,
          (e) => (errno(e) === 'ENOENT' ? false : Promise.reject(e)),
        );
        if (unlinked && stat && stat.nlink === 1) this.quota.add(-allocatedBytes(stat));
        return;
      }
      if (errno(error) === 'ENOENT') return;
      throw error;
    }
    try {
      if (depth >= MAX_DEPTH) throw tooDeep(String(name));
      // Streamed, never all names at once (millions of them would exhaust memory); names the
      // iteration missed or the server's process added meanwhile get one more pass, then 409.
      for (let pass = 1; ; pass++) {
        // Node's types allow only string encodings for opendir, but 'buffer' gives Buffer names at run time.
        for await (const child of await opendir(at(dir.fd), { encoding: 'buffer' as BufferEncoding, bufferSize: 256 })) {
          const childName = child.name as unknown as Buffer;
          // libuv leaves out `.` and `..`; a recursion into `..` would delete the parent, so never trust that alone.
          if (childName.equals(DOT) || childName.equals(DOT_DOT)) continue;
          await this.removeIn(dir.fd, childName, depth + 1);
        }
        const blocks = allocatedBytes(await dir.stat());
        const removed = await rmdir(path).then(
          () => true,
          (e) => (errno(e) === 'ENOENT' ? true : errno(e) === 'ENOTEMPTY' && pass < 3 ? false : Promise.reject(e)),
        );
        if (removed) {
          this.quota.add(-blocks);
          return;
        }
      }
    } finally {
      await dir.close();
    }
  }

  /** The target of the symlink `name` in `dirFd`; 409 when it stopped being one since lstat saw it. */
  private async readLink(dirFd: number, name: string, parts: readonly string[]): Promise<string> {
    return readlink(at(dirFd, name)).catch((error) =>
      Promise.reject(errno(error) === 'EINVAL' ? new ConflictError(`/${parts.join('/')} changed while it was opened`) : this.translate(error, parts)),
    );
  }

  /** A symlink's target as components in the jail, or 400 when it leaves (or loops). */
  private follow(dir: readonly string[], name: string, target: string, hops: { n: number }): string[] {
    if (++hops.n > MAX_LINK_HOPS) throw new PathRefusedError('symlink_escape', '/' + [...dir, name].join('/'), 'Too many levels of symbolic links');
    const resolved = resolveLinkTarget(dir, target, this.rootReal);
    if (!resolved) throw new PathRefusedError('symlink_escape', '/' + [...dir, name].join('/'), `/${[...dir, name].join('/')} is a symbolic link that points outside the server's directory`);
    return resolved;
  }

  /**
   * Belt and braces: the directory we ended on is under the root. (A directory the server's process
   * moved out of the jail while we held it would fail here.)
   */
  private async assertInside(dir: FileHandle, parts: readonly string[]): Promise<void> {
    const real = await readlink(at(dir.fd));
    if (real !== this.rootReal && !real.startsWith(`${this.rootReal}/`)) {
      throw new PathRefusedError('symlink_escape', '/' + parts.join('/'), `/${parts.join('/')} is no longer inside the server's directory`);
    }
  }

  /** System errors of a lookup as typed errors (404, 400, 409); others pass through. */
  translate(error: unknown, parts: readonly string[]): unknown {
    const path = '/' + parts.join('/');
    switch (errno(error)) {
      case 'ENOENT':
        return new NotFoundError('File', path);
      case 'ENOTDIR':
        return new DomainError('BAD_REQUEST', `A component of ${path} is not a directory`, { reason: 'not_a_directory', path });
      case 'ELOOP':
        return new ConflictError(`${path} changed into a symbolic link while it was opened`, { path });
      case 'EISDIR':
        return new DomainError('BAD_REQUEST', `${path} is a directory`, { reason: 'is_a_directory', path });
      case 'EEXIST':
      case 'ENOTEMPTY':
        return new DomainError('ALREADY_EXISTS', `${path} already exists`, { path });
      case 'EINVAL':
        return new DomainError('BAD_REQUEST', `${path} cannot be moved into itself`, { reason: 'invalid', path });
      case 'ENXIO':
        return new DomainError('BAD_REQUEST', `${path} is not a regular file`, { reason: 'not_a_file', path });
      case 'ENOSPC':
      case 'EDQUOT':
        return new DomainError('QUOTA_EXCEEDED', 'The server is out of disk space', { path });
      default:
        return error;
    }
  }
}
