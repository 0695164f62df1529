import { constants, type Stats } from 'node:fs';
import { open, opendir, rmdir, unlink, utimes, type FileHandle } from 'node:fs/promises';
import type { Dir } from 'node:fs';
import { utils, type Attributes, type SFTPWrapper } from 'ssh2';
import { DomainError, NotFoundError, type SftpAction } from '@encedeus/contracts';
import { allocatedBytes, QuotaWriter } from '../files/disk-quota';
import { at, O_PATH, openRegular, ServerJail, type OpenDir } from '../files/server-jail';
import { sftpPathParts, sftpPathText } from './sftp-path';

const { STATUS_CODE, OPEN_MODE } = utils.sftp;
const { O_WRONLY, O_RDWR, O_APPEND, O_NOFOLLOW } = constants;

/** Entries per READDIR answer. */
const READDIR_BATCH = 128;
/** Largest READ answered (OpenSSH asks for 32 KiB; ssh2 caps a packet near 256 KiB). */
const MAX_READ = 64 * 1024;
/** Handles one connection may hold open at once, over all its SFTP sessions (the budget the server gives each session). */
export const MAX_HANDLES = 256;

/** Handles open and requests being served on one connection, shared by its SFTP sessions. */
export interface HandleBudget {
  open: number;
  inFlight: number;
}

/** Refused for lack of a permission: PERMISSION_DENIED, never internal details. */
class SftpDeniedError extends DomainError {
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}

/** What a session reports: writes, renames and deletes, one call each (after they happened). */
export type SftpChange = { op: 'write' | 'mkdir' | 'chmod'; path: string } | { op: 'rename'; path: string; to: string } | { op: 'remove' | 'rmdir'; path: string };

type Handle =
  | {
      kind: 'file';
      file: FileHandle;
      path: string;
      written: boolean;
      /** Writes through the server's disk limit (handles opened for writing). */
      writer?: QuotaWriter;
      /** The open created the file or emptied it: refused at the disk limit, it is removed at close (nothing partial stays). */
      created?: boolean;
      refused?: boolean;
    }
  /** A directory read as READDIR asks (never all its names held: the server's process can make millions); `.` and `..` first. */
  | { kind: 'dir'; dir: OpenDir; listing: Dir; dotsSent: boolean };

/** The SFTP status a typed error becomes (STYLE.md: the SFTP layer turns errors into SSH_FX_*). */
function statusOf(error: unknown): number {
  const e = error as DomainError & NodeJS.ErrnoException;
  switch (e.code) {
    case 'NOT_FOUND':
    case 'ENOENT':
      return STATUS_CODE.NO_SUCH_FILE;
    case 'FORBIDDEN':
    case 'BAD_REQUEST':
    case 'EACCES':
    case 'EPERM':
      return STATUS_CODE.PERMISSION_DENIED;
    default:
      return STATUS_CODE.FAILURE;
  }
}

function messageOf(error: unknown): string {
  // Typed errors speak of paths inside the jail; anything else (a system error) could name host paths.
  return error instanceof DomainError ? error.message : 'Failure';
}

/** ssh2 attributes of a stat result (permission and type bits, size, owner, times). */
function attrsOf(stat: Stats): Attributes {
  return { mode: stat.mode, uid: stat.uid, gid: stat.gid, size: stat.size, atime: Math.floor(stat.atimeMs / 1000), mtime: Math.floor(stat.mtimeMs / 1000) };
}

/** An `ls -l` line for READDIR's longname (OpenSSH prints it for `ls -l`). */
function longname(name: string, stat: Stats): string {
  const type = stat.isDirectory() ? 'd' : stat.isSymbolicLink() ? 'l' : stat.isFile() ? '-' : '?';
  const bits = 'rwxrwxrwx'.split('').map((c, i) => (stat.mode & (0o400 >> i) ? c : '-')).join('');
  const when = stat.mtime.toISOString().slice(0, 16).replace('T', ' ');
  return `${type}${bits} 1 ${stat.uid} ${stat.gid} ${String(stat.size).padStart(10)} ${when} ${name}`;
}

/**
 * One SFTP subsystem on one server's directory. Every path goes through the file manager's jail
 * (server-jail.ts: walked by fd with O_NOFOLLOW, symlinks followed only inside); every request checks
 * the session's current permissions first (`allowed`, re-checked by the server on an interval).
 * Symlinks cannot be created or read; setstat changes permission bits and times, never owners.
 */
export class SftpSession {
  private readonly handles = new Map<number, Handle>();
  private nextHandle = 1;
  /** Set when the channel ended: a handle opened by a request still in flight is closed at once. */
  private ended = false;
  private jail!: ServerJail;
  /** Resolves once the jail is open; every request waits for it (it may still be counting the disk quota). */
  private readonly ready: Promise<void>;

  constructor(
    private readonly sftp: SFTPWrapper,
    jail: ServerJail | Promise<ServerJail>,
    /** The actions allowed now (read on every request). */
    private readonly allowed: () => ReadonlySet<SftpAction>,
    private readonly changed: (change: SftpChange) => void,
    /** Shared by the sessions of one connection: the handle cap holds per connection, not per channel. */
    private readonly budget: HandleBudget = { open: 0, inFlight: 0 },
    /** True when the connection has too many answers unsent (it was dropped): the request is not served. */
    private readonly overloaded: () => boolean = () => false,
  ) {
    this.ready = Promise.resolve(jail).then((j) => void (this.jail = j));
    // A jail that cannot be opened ends the connection (SftpServer); each request waiting fails on its own.
    this.ready.catch(() => undefined);
    const on = (event: string, run: (reqid: number, ...args: any[]) => Promise<void>) =>
      sftp.on(event as never, ((reqid: number, ...args: unknown[]) => {
        if (this.overloaded()) return;
        this.budget.inFlight++;
        this.ready
          .then(() => run(reqid, ...args))
          .catch((error) => this.fail(reqid, error))
          .finally(() => this.budget.inFlight--);
      }) as never);
    on('OPEN', (reqid, filename: string, flags: number) => this.openFile(reqid, filename, flags));
    on('READ', (reqid, handle: Buffer, offset: number, length: number) => this.read(reqid, handle, offset, length));
    on('WRITE', (reqid, handle: Buffer, offset: number, data: Buffer) => this.write(reqid, handle, offset, data));
    on('FSTAT', (reqid, handle: Buffer) => this.fstat(reqid, handle));
    on('FSETSTAT', (reqid, handle: Buffer, attrs: Attributes) => this.fsetstat(reqid, handle, attrs));
    on('CLOSE', (reqid, handle: Buffer) => this.close(reqid, handle));
    on('OPENDIR', (reqid, path: string) => this.openDir(reqid, path));
    on('READDIR', (reqid, handle: Buffer) => this.readDir(reqid, handle));
    on('STAT', (reqid, path: string) => this.stat(reqid, path, true));
    on('LSTAT', (reqid, path: string) => this.stat(reqid, path, false));
    on('SETSTAT', (reqid, path: string, attrs: Attributes) => this.setstat(reqid, path, attrs));
    on('MKDIR', (reqid, path: string) => this.mkdir(reqid, path));
    on('RMDIR', (reqid, path: string) => this.remove(reqid, path, true));
    on('REMOVE', (reqid, path: string) => this.remove(reqid, path, false));
    on('RENAME', (reqid, from: string, to: string) => this.rename(reqid, from, to));
    on('REALPATH', (reqid, path: string) => this.realpath(reqid, path));
    on('SYMLINK', async (reqid) => void this.sftp.status(reqid, STATUS_CODE.PERMISSION_DENIED, 'Symbolic links cannot be created over SFTP'));
    on('READLINK', async (reqid) => void this.sftp.status(reqid, STATUS_CODE.OP_UNSUPPORTED, 'Reading symbolic links is not supported'));
    // The client's EOF ends the subsystem: close our side too, or OpenSSH's ssh waits for the channel forever.
    sftp.on('end', () => sftp.end());
    sftp.on('close', () => void this.closeAll());
  }

  /** Closes every handle still open (the channel ended). */
  async closeAll(): Promise<void> {
    this.ended = true;
    const open = [...this.handles.values()];
    this.handles.clear();
    for (const h of open) {
      this.budget.open--;
      await this.closeHandle(h).catch(() => undefined);
      // A client that went away without closing still wrote: the change is reported all the same.
      if (h.kind === 'file' && h.written) this.changed({ op: 'write', path: h.path });
    }
  }

  private async closeHandle(h: Handle): Promise<void> {
    if (h.kind === 'file') {
      await h.writer?.settle().catch(() => undefined);
      await h.file.close();
      if (h.refused && h.created) await this.jail.remove(sftpPathParts(h.path)).catch(() => undefined);
      return;
    }
    await h.listing.close().catch(() => undefined);
    await h.dir.handle.close();
  }

  private need(action: SftpAction): void {
    if (!this.allowed().has(action)) throw new SftpDeniedError(`You may not ${action === 'files.read' ? 'read' : action === 'files.write' ? 'write' : 'delete'} the files of this server`);
  }

  private fail(reqid: number, error: unknown): void {
    try {
      this.sftp.status(reqid, statusOf(error), messageOf(error));
    } catch {
      // The channel is gone.
    }
  }

  private ok(reqid: number): void {
    this.sftp.status(reqid, STATUS_CODE.OK);
  }

  private assertRoomForHandle(): void {
    if (this.budget.open >= MAX_HANDLES) throw new DomainError('BAD_REQUEST', `At most ${MAX_HANDLES} handles may be open`);
  }

  private addHandle(h: Handle): Buffer {
    if (this.ended) {
      void this.closeHandle(h).catch(() => undefined);
      throw new DomainError('CONFLICT', 'The SFTP channel has ended');
    }
    this.budget.open++;
    const id = this.nextHandle++;
    this.handles.set(id, h);
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(id);
    return buf;
  }

  private handleOf(handle: Buffer): Handle {
    const h = handle.length === 4 ? this.handles.get(handle.readUInt32BE(0)) : undefined;
    if (!h) throw new DomainError('BAD_REQUEST', 'Unknown handle');
    return h;
  }

  private async openFile(reqid: number, filename: string, flags: number): Promise<void> {
    const parts = sftpPathParts(filename);
    this.assertRoomForHandle();
    const writing = (flags & (OPEN_MODE.WRITE | OPEN_MODE.APPEND | OPEN_MODE.CREAT | OPEN_MODE.TRUNC)) !== 0;
    // An open that neither reads nor writes still yields a handle (FSTAT): it needs files.read too.
    if (flags & OPEN_MODE.READ || !writing) this.need('files.read');
    if (writing) this.need('files.write');
    if (!writing) {
      const { handle } = await this.jail.openFile(parts);
      this.sftp.handle(reqid, this.addHandle({ kind: 'file', file: handle, path: sftpPathText(parts), written: false }));
      return;
    }
    const { file, created } = await this.openForWrite(parts, flags);
    const writer = await QuotaWriter.of(this.jail.quota, file).catch(async (error) => {
      await file.close();
      throw error;
    });
    this.sftp.handle(reqid, this.addHandle({ kind: 'file', file, path: sftpPathText(parts), written: false, writer, created }));
  }

  /**
   * A file opened for writing through the jail: truncating or exclusive opens are the file manager's
   * createFile (a new file owned by the server's user); others open an existing regular file in
   * place (resume, append), or create an empty one with CREAT.
   */
  private async openForWrite(parts: string[], flags: number): Promise<{ file: FileHandle; created: boolean }> {
    if (flags & (OPEN_MODE.TRUNC | OPEN_MODE.EXCL)) return { file: await this.jail.createFile(parts, (flags & OPEN_MODE.EXCL) !== 0), created: true };
    const e = await this.jail.entry(parts, { follow: true });
    try {
      if (e.stat) {
        if (!e.stat.isFile()) throw new DomainError('BAD_REQUEST', `${sftpPathText(parts)} is not a regular file`);
        const mode = (flags & OPEN_MODE.READ ? O_RDWR : O_WRONLY) | (flags & OPEN_MODE.APPEND ? O_APPEND : 0);
        const opened = await openRegular(e.dir.handle.fd, e.name, mode, (st) => {
          if (this.jail.isForeign(st)) throw new SftpDeniedError(`${sftpPathText(parts)} is a hard link to a file the server does not own`);
        }).catch((error) => Promise.reject(this.jail.translate(error, parts)));
        if (!opened) throw new DomainError('CONFLICT', `${sftpPathText(parts)} changed while it was opened`);
        return { file: opened.handle, created: false };
      }
    } finally {
      await e.dir.handle.close();
    }
    if (!(flags & OPEN_MODE.CREAT)) throw new NotFoundError('File', sftpPathText(parts));
    return { file: await this.jail.createFile(parts, true), created: true };
  }

  private async read(reqid: number, handle: Buffer, offset: number, length: number): Promise<void> {
    this.need('files.read');
    const h = this.handleOf(handle);
    if (h.kind !== 'file') throw new DomainError('BAD_REQUEST', 'Not a file handle');
    const buffer = Buffer.alloc(Math.min(length, MAX_READ));
    const { bytesRead } = await h.file.read(buffer, 0, buffer.length, offset);
    if (bytesRead === 0) this.sftp.status(reqid, STATUS_CODE.EOF);
    else this.sftp.data(reqid, buffer.subarray(0, bytesRead));
  }

  private async write(reqid: number, handle: Buffer, offset: number, data: Buffer): Promise<void> {
    this.need('files.write');
    const h = this.handleOf(handle);
    if (h.kind !== 'file') throw new DomainError('BAD_REQUEST', 'Not a file handle');
    if (!h.writer) throw new DomainError('BAD_REQUEST', 'The handle was not opened for writing');
    try {
      // Past the server's disk limit: FAILURE with the reason (SFTP v3 has no quota status).
      await h.writer.write(data, offset);
    } catch (error) {
      if ((error as DomainError).code === 'DISK_QUOTA_EXCEEDED') h.refused = true;
      throw error;
    }
    h.written = true;
    this.ok(reqid);
  }

  private async fstat(reqid: number, handle: Buffer): Promise<void> {
    const h = this.handleOf(handle);
    this.sftp.attrs(reqid, attrsOf(await (h.kind === 'file' ? h.file : h.dir.handle).stat()));
  }

  private async fsetstat(reqid: number, handle: Buffer, attrs: Attributes): Promise<void> {
    this.need('files.write');
    const h = this.handleOf(handle);
    // The server's root keeps the mode the agent gave it (0700: other servers' users cannot look in).
    if (h.kind === 'dir' && h.dir.parts.length === 0) throw new SftpDeniedError("The server's root directory cannot be changed");
    await this.applyAttrs(h.kind === 'file' ? h.file : h.dir.handle, attrs);
    if (attrs.mode !== undefined) this.changed({ op: 'chmod', path: h.kind === 'file' ? h.path : sftpPathText(h.dir.parts) });
    this.ok(reqid);
  }

  private async setstat(reqid: number, path: string, attrs: Attributes): Promise<void> {
    this.need('files.write');
    const parts = sftpPathParts(path);
    if (parts.length === 0) throw new SftpDeniedError("The server's root directory cannot be changed");
    if (attrs.uid !== undefined || attrs.gid !== undefined) throw new SftpDeniedError('Owners cannot be changed over SFTP');
    // The file manager's chmod (by O_PATH, never through a symlink, never a foreign hard link).
    if (attrs.mode !== undefined) await this.jail.chmod(parts, attrs.mode & 0o777);
    if (attrs.atime !== undefined && attrs.mtime !== undefined) await this.touch(parts, attrs.atime, attrs.mtime);
    if (attrs.mode !== undefined) this.changed({ op: 'chmod', path: sftpPathText(parts) });
    this.ok(reqid);
  }

  /** Sets times the way the jail's chmod sets modes: the inode named with O_PATH|O_NOFOLLOW, changed through its magic link. */
  private async touch(parts: string[], atime: number, mtime: number): Promise<void> {
    const e = await this.jail.entry(parts, { follow: true });
    try {
      if (!e.stat) throw new NotFoundError('File', sftpPathText(parts));
      const handle = await open(at(e.dir.handle.fd, e.name), O_PATH | O_NOFOLLOW).catch((error) => Promise.reject(this.jail.translate(error, parts)));
      try {
        const stat = await handle.stat();
        if (stat.isSymbolicLink() || this.jail.isForeign(stat)) throw new SftpDeniedError(`${sftpPathText(parts)} cannot be changed`);
        await utimes(at(handle.fd), atime, mtime);
      } finally {
        await handle.close();
      }
    } finally {
      await e.dir.handle.close();
    }
  }

  /** Permission bits (no setuid, setgid or sticky: the agent runs as root) and times; owners never change. */
  private async applyAttrs(file: FileHandle, attrs: Attributes): Promise<void> {
    if (attrs.uid !== undefined || attrs.gid !== undefined) {
      const stat = await file.stat();
      if ((attrs.uid !== undefined && attrs.uid !== stat.uid) || (attrs.gid !== undefined && attrs.gid !== stat.gid)) throw new SftpDeniedError('Owners cannot be changed over SFTP');
    }
    if (attrs.mode !== undefined) await file.chmod(attrs.mode & 0o777);
    if (attrs.atime !== undefined && attrs.mtime !== undefined) await file.utimes(attrs.atime, attrs.mtime);
  }

  private async close(reqid: number, handle: Buffer): Promise<void> {
    const h = this.handleOf(handle);
    this.handles.delete(handle.readUInt32BE(0));
    this.budget.open--;
    await this.closeHandle(h);
    if (h.kind === 'file' && h.written) this.changed({ op: 'write', path: h.path });
    this.ok(reqid);
  }

  private async openDir(reqid: number, path: string): Promise<void> {
    this.need('files.read');
    this.assertRoomForHandle();
    const dir = await this.jail.openDir(sftpPathParts(path));
    let listing: Dir | undefined;
    try {
      // Through the magic link of the jail's descriptor: the very directory walked, read as asked.
      listing = await opendir(at(dir.handle.fd), { bufferSize: READDIR_BATCH });
      this.sftp.handle(reqid, this.addHandle({ kind: 'dir', dir, listing, dotsSent: false }));
    } catch (error) {
      await listing?.close().catch(() => undefined);
      await dir.handle.close().catch(() => undefined);
      throw error;
    }
  }

  private async readDir(reqid: number, handle: Buffer): Promise<void> {
    this.need('files.read');
    const h = this.handleOf(handle);
    if (h.kind !== 'dir') throw new DomainError('BAD_REQUEST', 'Not a directory handle');
    const entries = [];
    if (!h.dotsSent) {
      h.dotsSent = true;
      // `.` and `..` both describe this directory: nothing outside the jail (above the root) is ever described.
      const stat = await h.dir.handle.stat();
      for (const name of ['.', '..']) entries.push({ filename: name, longname: longname(name, stat), attrs: attrsOf(stat) });
    }
    while (entries.length < READDIR_BATCH) {
      const entry = await h.listing.read();
      if (!entry) break;
      const stat = await this.jail.lstatIn(h.dir, entry.name);
      if (!stat) continue;
      entries.push({ filename: entry.name, longname: longname(entry.name, stat), attrs: attrsOf(stat) });
    }
    if (entries.length === 0) return void this.sftp.status(reqid, STATUS_CODE.EOF);
    this.sftp.name(reqid, entries);
  }

  private async stat(reqid: number, path: string, follow: boolean): Promise<void> {
    this.need('files.read');
    const parts = sftpPathParts(path);
    if (parts.length === 0) {
      const dir = await this.jail.openDir([]);
      try {
        return void this.sftp.attrs(reqid, attrsOf(await dir.handle.stat()));
      } finally {
        await dir.handle.close();
      }
    }
    const e = await this.jail.entry(parts, { follow });
    try {
      if (!e.stat) throw new NotFoundError('File', sftpPathText(parts));
      this.sftp.attrs(reqid, attrsOf(e.stat));
    } finally {
      await e.dir.handle.close();
    }
  }

  private async mkdir(reqid: number, path: string): Promise<void> {
    this.need('files.write');
    const parts = sftpPathParts(path);
    if (parts.length === 0) throw new DomainError('ALREADY_EXISTS', '/ already exists');
    await this.jail.mkdir(parts);
    this.changed({ op: 'mkdir', path: sftpPathText(parts) });
    this.ok(reqid);
  }

  /** REMOVE unlinks a file or a symlink itself (never its target); RMDIR removes an empty directory. */
  private async remove(reqid: number, path: string, directory: boolean): Promise<void> {
    this.need('files.delete');
    const parts = sftpPathParts(path);
    if (parts.length === 0) throw new SftpDeniedError("The server's root directory cannot be removed");
    const e = await this.jail.entry(parts);
    try {
      if (!e.stat) throw new NotFoundError('File', sftpPathText(parts));
      if (directory !== e.stat.isDirectory()) throw new DomainError('BAD_REQUEST', `${sftpPathText(parts)} is ${directory ? 'not a directory' : 'a directory'}`);
      // unlink(2) and rmdir(2) never follow the last component.
      await (directory ? rmdir : unlink)(at(e.dir.handle.fd, e.name)).catch((error) => Promise.reject(this.jail.translate(error, parts)));
      // The blocks of its last name are free again under the server's disk limit.
      if (e.stat.nlink === 1 || directory) this.jail.quota.add(-allocatedBytes(e.stat));
    } finally {
      await e.dir.handle.close();
    }
    this.changed({ op: directory ? 'rmdir' : 'remove', path: sftpPathText(parts) });
    this.ok(reqid);
  }

  private async rename(reqid: number, from: string, to: string): Promise<void> {
    this.need('files.write');
    const source = sftpPathParts(from);
    const target = sftpPathParts(to);
    if (source.length === 0 || target.length === 0) throw new SftpDeniedError("The server's root directory cannot be renamed");
    await this.jail.rename(source, target);
    this.changed({ op: 'rename', path: sftpPathText(source), to: sftpPathText(target) });
    this.ok(reqid);
  }

  /** The canonical path, lexically (`..` stops at `/`); the entry need not exist (clients resolve targets of put this way). */
  private async realpath(reqid: number, path: string): Promise<void> {
    const text = sftpPathText(sftpPathParts(path));
    this.sftp.name(reqid, [{ filename: text, longname: text, attrs: {} as Attributes }]);
  }
}
