import { constants } from 'node:fs';
import { open, readlink, type FileHandle } from 'node:fs/promises';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { Headers, Pack } from 'tar-stream';

type TarStream = typeof import('tar-stream');
let tarStream: TarStream | undefined;
/** tar-stream, loaded at the first archive: an idle agent does not carry it (issue 14, the agent's RSS). */
function load(): TarStream {
  tarStream ??= require('tar-stream') as TarStream;
  return tarStream;
}
const tarStreamPack = () => load().pack();
const tarStreamExtract = () => load().extract();
import { ConflictError, DomainError } from '@encedeus/contracts';
import { allocatedBytes, QuotaWriter } from './disk-quota';
import { archiveEntryPath, parseClientPath, parseEntryPath, PathRefusedError, resolveLinkTarget } from './jail-path';
import { at, errno, MAX_DEPTH, O_PATH, sortedNames, tooDeep, type ServerJail } from './server-jail';

export { MAX_DEPTH } from './server-jail';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;

/** Most entries one archive may hold (a tar of millions of empty files is a denial of service). */
export const MAX_ARCHIVE_ENTRIES = 100_000;

/**
 * Most bytes one extraction may write (the sum of its files' sizes), until extractions count against
 * the server's disk limit: a few KiB of gzip can declare terabytes. Above it 413, `reason: archive_too_large`.
 */
export const MAX_EXTRACT_BYTES = 8 * 1024 ** 3;

/** Tar bytes allowed beyond the files' contents: headers, padding and end blocks (per entry, and once). */
const TAR_OVERHEAD_PER_ENTRY = 8 * 1024;
const TAR_OVERHEAD = 1024 * 1024;

function archiveTooLarge(max: number): DomainError {
  return new DomainError('PAYLOAD_TOO_LARGE', `The archive expands to more than ${max} bytes`, { reason: 'archive_too_large', max });
}

function unsafe(entry: string, why: string): DomainError {
  return new DomainError('BAD_REQUEST', `The archive is refused: entry "${entry}" ${why}`, { reason: 'unsafe_archive', entry: entry.replace(/\0/g, '\\0') });
}

/**
 * Writes a tar.gz of `paths` (all in one directory) into that directory as `name`, walking by fd
 * with O_NOFOLLOW (a symlink is stored as a symlink entry, never followed). Files adding up to more
 * than `maxBytes` are 413 (`reason: archive_too_large`, the partial archive removed). Answers the archive's path.
 */
export async function compress(jail: ServerJail, paths: string[], name: string | undefined, options: DecompressOptions = {}): Promise<{ name: string }> {
  const budget = { bytes: 0, max: options.maxBytes ?? MAX_EXTRACT_BYTES };
  const parsed = paths.map(parseEntryPath);
  const parent = parsed[0].slice(0, -1);
  const same = (p: string[]) => p.length === parent.length + 1 && p.slice(0, -1).every((c, i) => c === parent[i]);
  if (!parsed.every(same)) throw new DomainError('VALIDATION_FAILED', 'Every path to compress must be in the same directory', { fields: [{ path: 'paths', message: 'one directory' }] });
  const archiveName = name ?? `archive-${new Date().toISOString().replace(/[:.]/g, '-')}.tar.gz`;
  const [archivePart] = parseClientPath(archiveName);
  if (archivePart === undefined || archivePart !== archiveName) throw new DomainError('VALIDATION_FAILED', 'name must be a plain file name', { fields: [{ path: 'name', message: 'a file name' }] });

  const out = await jail.createFile([...parent, archiveName], true);
  const tar = tarStreamPack();
  // The archive's bytes count against the server's disk limit as they are written (refused past it).
  // Written through the FileHandle we keep (an fs stream would close it; settle needs it after).
  let taken = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        jail.quota.take(chunk.length);
      } catch (error) {
        return done(error as Error);
      }
      taken += chunk.length;
      out.write(chunk).then(() => done(), done);
    },
  });
  const written = pipeline(tar, createGzip(), sink);
  // What the archive really occupies replaces what its writes took.
  const settle = async () => {
    jail.quota.add(allocatedBytes(await out.stat()) - taken);
    taken = 0;
  };
  try {
    const dir = await jail.openDir(parent);
    try {
      for (const parts of parsed) await addEntry(jail, tar, dir.handle.fd, parts[parts.length - 1], parts[parts.length - 1], archiveName, 0, budget);
    } finally {
      await dir.handle.close();
    }
    tar.finalize();
    await written;
    await settle();
  } catch (error) {
    tar.destroy(error as Error);
    // The disk limit stops the writing side first; the reading side then only sees its stream cut.
    const writeError = await written.then(
      () => undefined,
      (e: unknown) => e,
    );
    await settle().catch(() => undefined);
    await jail.remove([...parent, archiveName]).catch(() => undefined);
    throw writeError instanceof DomainError ? writeError : error;
  } finally {
    await out.close().catch(() => undefined);
  }
  return { name: '/' + [...parent, archiveName].join('/') };
}

/**
 * Adds `name` of the directory open as `dirFd` (and, for a directory, everything under it, at most
 * MAX_DEPTH levels). Each entry is named with O_PATH first: FIFOs, sockets and devices are skipped
 * without ever being opened; files and directories are reopened from that very inode.
 */
async function addEntry(jail: ServerJail, tar: Pack, dirFd: number, name: string, entryName: string, skip: string, depth: number, budget: { bytes: number; max: number }): Promise<void> {
  let path: FileHandle;
  try {
    path = await open(at(dirFd, name), O_PATH | O_NOFOLLOW);
  } catch (error) {
    if (errno(error) === 'ENOENT') return;
    throw error;
  }
  let handle: FileHandle | undefined;
  try {
    const stat = await path.stat();
    const mode = stat.mode & 0o777;
    if (stat.isSymbolicLink()) {
      const linkname = await readlink(at(dirFd, name)).catch((error) => (errno(error) === 'EINVAL' || errno(error) === 'ENOENT' ? null : Promise.reject(error)));
      if (linkname !== null) await entry(tar, { name: entryName, type: 'symlink', linkname, mode: 0o777 });
    } else if (stat.isDirectory()) {
      if (depth >= MAX_DEPTH) throw tooDeep(entryName.slice(0, 64));
      await entry(tar, { name: `${entryName}/`, type: 'directory', mode, mtime: stat.mtime });
      // Children are looked up relative to this directory's fd (never by path).
      handle = await open(at(path.fd), O_RDONLY | O_DIRECTORY);
      await path.close();
      for (const child of await sortedNames(handle.fd, entryName)) await addEntry(jail, tar, handle.fd, child, `${entryName}/${child}`, skip, depth + 1, budget);
    } else if (stat.isFile()) {
      // A hard link to someone else's file (ServerJail.isForeign) is left out, like a FIFO.
      if (entryName === skip || jail.isForeign(stat)) return;
      // Counted before reading: a sparse file of terabytes takes no disk but hours of gzip (and an archive of gigabytes).
      budget.bytes += stat.size;
      if (budget.bytes > budget.max) throw archiveTooLarge(budget.max);
      handle = await open(at(path.fd), O_RDONLY | O_NONBLOCK);
      const sink = tar.entry({ name: entryName, type: 'file', size: stat.size, mode, mtime: stat.mtime });
      await pipeline(Readable.from(chunksOf(handle, stat.size, entryName)), sink);
    }
  } finally {
    await path.close().catch(() => undefined);
    await handle?.close();
  }
}

/**
 * The bytes of an open file, read by position up to `size` (Infinity: to its end). fs streams over
 * an fd close it when destroyed whatever autoClose says; the FileHandle stays the one owner here.
 */
async function* chunksOf(handle: FileHandle, size = Infinity, name?: string): AsyncGenerator<Buffer> {
  let position = 0;
  while (position < size) {
    const buffer = Buffer.alloc(Math.min(256 * 1024, size - position));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    // A file that shrank while it was archived would leave its tar entry short.
    if (bytesRead === 0 && size !== Infinity) throw new ConflictError(`${name} changed while it was read`);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

function entry(tar: Pack, header: Headers): Promise<void> {
  return new Promise((resolve, reject) => tar.entry(header, (error) => (error ? reject(error) : resolve())));
}

/** An entry of an archive as the extraction will create it. */
interface PlannedEntry {
  parts: string[];
  header: Headers;
}

/** How much an archive may hold (compress) or an extraction may write (decompress). */
export interface DecompressOptions {
  /** Most bytes the archive's files may add up to. @default MAX_EXTRACT_BYTES */
  maxBytes?: number;
}

/** The tar bytes read so far against what the headers seen so far allow (a bomb of padding has no header). */
interface TarBudget {
  declared: number;
  entries: number;
  read: number;
}

/** The fields the second pass must find unchanged: it acts on what the first pass checked. */
function sameEntry(a: Headers, b: Headers): boolean {
  return a.name === b.name && a.type === b.type && (a.size ?? 0) === (b.size ?? 0) && (a.linkname ?? null) === (b.linkname ?? null) && (a.mode ?? null) === (b.mode ?? null);
}

/**
 * Extracts a .tar.gz (or .tar) into the directory that holds it. Every entry is checked before
 * anything is written: absolute names, `..`, links that leave the server's directory and device
 * entries refuse the whole archive (400, `reason: unsafe_archive`), and so do files adding up to more
 * than `maxBytes` or trees deeper than MAX_DEPTH (413). Both passes read one descriptor of the
 * archive, and the second acts only on headers equal to those the first checked (409 otherwise: the
 * server's process rewrote it meanwhile). Files are written through the jail, so a symlink the
 * server's process plants meanwhile is not followed out either.
 */
export async function decompress(jail: ServerJail, path: string, options: DecompressOptions = {}): Promise<{ entries: number }> {
  const maxBytes = options.maxBytes ?? MAX_EXTRACT_BYTES;
  const archive = parseEntryPath(path);
  const dest = archive.slice(0, -1);
  const { handle } = await jail.openFile(archive);
  try {
    const plan = await scan(jail, handle, archive, dest, maxBytes);
    const budget: TarBudget = { declared: plan.reduce((n, p) => n + (p.header.size ?? 0), 0), entries: plan.length, read: 0 };
    // What the files declare must fit in the server's disk limit before anything is written (413, nothing extracted).
    jail.quota.check(budget.declared);
    let count = 0;
    await readArchive(handle, archive, budget, maxBytes, async (header, body) => {
      const planned = plan[count++];
      if (!planned || !sameEntry(planned.header, header)) throw new ConflictError(`${path} changed while it was extracted`);
      const parts = [...dest, ...planned.parts];
      const { type, linkname } = planned.header;
      const mode = (planned.header.mode ?? 0o644) & 0o777;
      switch (type) {
        case 'directory': {
          if (planned.parts.length === 0) return body.resume();
          const dir = await jail.openDir(parts, true);
          // A directory entry reaching the server's root through a link must not change the root's 0700.
          await (dir.parts.length === 0 ? Promise.resolve() : dir.handle.chmod(mode | 0o700)).finally(() => dir.handle.close());
          return body.resume();
        }
        case 'symlink':
          await jail.symlink(parts, linkname!);
          return body.resume();
        case 'link':
          await jail.link([...dest, ...archiveEntryPath(linkname!)!], parts);
          return body.resume();
        default: {
          const out = await jail.createFile(parts);
          try {
            await out.chmod(mode);
            const writer = await QuotaWriter.of(jail.quota, out);
            try {
              for await (const chunk of body) await writer.write(chunk as Buffer);
            } finally {
              await writer.settle().catch(() => undefined);
            }
          } finally {
            await out.close();
          }
        }
      }
    });
    return { entries: count };
  } finally {
    await handle.close();
  }
}

/** The first pass: every entry's header checked; nothing written. */
async function scan(jail: ServerJail, handle: FileHandle, archive: string[], dest: string[], maxBytes: number): Promise<PlannedEntry[]> {
  const plan: PlannedEntry[] = [];
  const budget: TarBudget = { declared: 0, entries: 0, read: 0 };
  await readArchive(handle, archive, budget, maxBytes, async (header, body) => {
    body.resume();
    if (plan.length >= MAX_ARCHIVE_ENTRIES) throw new DomainError('PAYLOAD_TOO_LARGE', `The archive holds more than ${MAX_ARCHIVE_ENTRIES} entries`);
    const parts = archiveEntryPath(header.name);
    if (!parts) throw unsafe(header.name, 'has an absolute name or a ".." component');
    if (parts.length === 0 && header.type !== 'directory') throw unsafe(header.name, 'has no name');
    if (dest.length + parts.length > MAX_DEPTH) throw tooDeep(header.name.slice(0, 64));
    switch (header.type) {
      case 'file':
      case 'contiguous-file':
        budget.declared += header.size ?? 0;
        if (budget.declared > maxBytes) throw archiveTooLarge(maxBytes);
        break;
      case 'directory':
        break;
      case 'symlink':
        // Lexically against the entry's own directory here; against where it really lands when created.
        if (!header.linkname || !resolveLinkTarget([...dest, ...parts.slice(0, -1)], header.linkname, jail.rootReal)) throw unsafe(header.name, `is a symbolic link to "${header.linkname}", outside the server's directory`);
        break;
      case 'link':
        if (!header.linkname || !archiveEntryPath(header.linkname)?.length) throw unsafe(header.name, `is a hard link to "${header.linkname}", outside the archive`);
        break;
      default:
        throw unsafe(header.name, `is a ${header.type ?? 'special'} entry`);
    }
    budget.entries++;
    plan.push({ parts, header: { ...header } });
  });
  return plan;
}

/**
 * Reads the archive from its open descriptor (by position: both passes read the same inode),
 * gunzipping when it starts with gzip's magic bytes. The tar stream may be at most the bytes its
 * headers declared plus their overhead: a gzip of nothing but zero blocks is stopped too.
 */
async function readArchive(
  handle: FileHandle,
  archive: string[],
  budget: TarBudget,
  maxBytes: number,
  onEntry: (header: Headers, body: NodeJS.ReadableStream) => Promise<unknown>,
): Promise<void> {
  const magic = Buffer.alloc(2);
  await handle.read(magic, 0, 2, 0);
  const gzipped = magic[0] === 0x1f && magic[1] === 0x8b;
  const tar = tarStreamExtract();
  tar.on('entry', (header, body, next) => {
    onEntry(header, body).then(
      () => next(),
      (error) => tar.destroy(error),
    );
  });
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      budget.read += chunk.length;
      const allowed = Math.min(budget.declared, maxBytes) + budget.entries * TAR_OVERHEAD_PER_ENTRY + TAR_OVERHEAD;
      done(budget.read > allowed ? archiveTooLarge(maxBytes) : null, chunk);
    },
  });
  const source = Readable.from(chunksOf(handle));
  await (gzipped ? pipeline(source, createGunzip(), counted, tar) : pipeline(source, counted, tar)).catch((error) => {
    if (error instanceof DomainError || error instanceof PathRefusedError) throw error;
    throw new DomainError('BAD_REQUEST', `/${archive.join('/')} is not a readable tar or tar.gz archive: ${(error as Error).message}`, { reason: 'not_an_archive' });
  });
}
