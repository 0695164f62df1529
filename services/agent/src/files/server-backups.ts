import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { lutimes, open, type FileHandle } from 'node:fs/promises';
import { headers as natsHeaders, type NatsConnection } from 'nats';
import { z } from 'zod';
import { assertChunkBytes, chunkBuffer, chunkStream, readChunks, type ChunkRef, type ChunkStore } from '@encedeus/chunks';
import {
  agentBackupCreateSchema,
  agentBackupRestoreSchema,
  BACKUP_CHUNK_VERBS,
  BACKUP_HEADERS,
  BACKUP_MISSING_BATCH,
  backupManifestSchema,
  ConflictError,
  DomainError,
  errorFromBody,
  NotFoundError,
  Subjects,
  ValidationError,
  type BackupManifest,
  type BackupManifestEntry,
} from '@encedeus/contracts';
import { CommandClient, exponentialBackoff, retry } from '@encedeus/messaging';
import type { CommandHandler } from '../bus/agent-bus';
import { parseClientPath } from './jail-path';
import { at, errno, MAX_DEPTH, O_PATH, sortedNames, tooDeep, ServerJail } from './server-jail';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;

/** Chunks (and their bytes) held before asking the files service which are missing: one round trip per batch. */
const BATCH_CHUNKS = 32;
const BATCH_BYTES = 32 * 1024 * 1024;
/** Chunk puts in flight at once. */
const PUTS_IN_FLIGHT = 4;
/** Progress is reported this often (the files service fails a backup with no progress for its stall timeout, 2 min by default). */
const PROGRESS_MS = 2000;
const CALL_TIMEOUT_MS = 30_000;
/** Calls that are repeated when unanswered (patiently) wait less each time: a request lost to a restart of the files service costs this. */
const PATIENT_TIMEOUT_MS = 10_000;

/** What the backup verbs need of the agent. */
export interface BackupHandlerOptions {
  nodeId(): string;
  /** The agent's NATS connection, or undefined while it has none. */
  nc(): NatsConnection | undefined;
  /** The directory of a server this agent runs, or undefined (404). */
  serverDir(serverId: string): string | undefined;
  /** Called after a restore wrote into the server's directory (its disk use is counted again). */
  restored?(serverId: string): void;
  log(line: string): void;
}

function parse<T>(schema: z.ZodType<T>, data: unknown): T {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const fields = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  throw new ValidationError(`Invalid command: ${fields.map((f) => f.path || '(body)').join(', ')}`, fields);
}

/** Repeats an idempotent call the files service did not answer (timeout, no responders: a restart, a NATS hiccup), up to about 1.5 min in all. */
function patiently<T>(work: () => Promise<T>): Promise<T> {
  // A DomainError from CommandClient, or nats.js's own for the raw chunk calls (code TIMEOUT, or 503: no responders).
  const unanswered = (error: unknown) => ['SERVICE_UNAVAILABLE', 'TIMEOUT', '503'].includes(String((error as { code?: unknown })?.code));
  return retry(work, { attempts: 10, retryIf: unanswered, backoffMs: exponentialBackoff(1000, 15_000) });
}

/** What a backup or restore asks of the files service (FilesCalls; a fake in unit tests). */
export interface BackupCalls {
  /** A JSON verb (`backup_missing`, `backup_progress`, …) with the backup and token added. */
  call<T>(verb: string, data: object): Promise<T>;
  /** Sends a chunk's bytes (`backup_put_chunk`). */
  put(hash: string, data: Uint8Array): Promise<unknown>;
  /** The backup's chunks as readChunks reads them (`backup_get_chunk`, each checked against its hash). */
  asStore(): ChunkStore;
}

/** The calls a backup or restore makes to the files service, all answered on this agent's reply subjects. */
class FilesCalls implements BackupCalls {
  private readonly commands: CommandClient;

  constructor(
    private readonly nc: NatsConnection,
    private readonly nodeId: string,
    readonly backupId: string,
    private readonly token: string,
  ) {
    this.commands = new CommandClient(nc);
  }

  private reply(): string {
    return Subjects.agentReply(this.nodeId, randomUUID().replace(/-/g, ''));
  }

  call<T>(verb: string, data: object): Promise<T> {
    // Asking which chunks are missing may wait while a chunk collection runs (it holds the collector's lock), and is harmless to repeat.
    const patient = verb === 'backup_missing';
    const send = () =>
      this.commands.send<T>('files', verb, { backup_id: this.backupId, token: this.token, ...data }, { actor: `agent:${this.nodeId}` }, { timeoutMs: patient ? PATIENT_TIMEOUT_MS : CALL_TIMEOUT_MS, replySubject: this.reply() });
    return patient ? patiently(send) : send();
  }

  private async raw(verb: string, hash: string, data: Uint8Array = new Uint8Array()): Promise<Uint8Array> {
    const h = natsHeaders();
    h.set(BACKUP_HEADERS.backup, this.backupId);
    h.set(BACKUP_HEADERS.token, this.token);
    h.set(BACKUP_HEADERS.hash, hash);
    const m = await this.nc.request(Subjects.command('files', verb), data, { timeout: PATIENT_TIMEOUT_MS, headers: h, noMux: true, reply: this.reply() });
    if (m.headers?.get('Encedeus-Error')) throw errorFromBody(JSON.parse(new TextDecoder().decode(m.data)));
    return m.data;
  }

  put(hash: string, data: Uint8Array): Promise<Uint8Array> {
    return patiently(() => this.raw(BACKUP_CHUNK_VERBS.put, hash, data));
  }

  /** A chunk of the backup, checked against its hash. */
  async get(hash: string): Promise<Buffer> {
    const data = Buffer.from(await patiently(() => this.raw(BACKUP_CHUNK_VERBS.get, hash)));
    assertChunkBytes(hash, data, 'a restored backup chunk');
    return data;
  }

  /** readChunks' view of the backup's chunks (it only gets). */
  asStore(): ChunkStore {
    return { get: (hash: string) => this.get(hash) } as unknown as ChunkStore;
  }
}

/**
 * Sends chunks the files service lacks: chunks are queued with their bytes, and every BATCH_CHUNKS
 * (or BATCH_BYTES) the service is asked which of them are missing; only those are sent. A chunk
 * asked about once in this backup is not asked again. Memory: at most one batch plus the puts in flight.
 */
class ChunkUploader {
  private readonly asked = new Set<string>();
  /** Chunks queued with their bytes, or without (`data` undefined: a file the last backup cut, not read again). */
  private batch = new Map<string, Uint8Array | undefined>();
  private batchBytes = 0;
  /** Chunks queued without bytes that the store turned out to lack: the files holding them must be read after all. */
  readonly lacking = new Set<string>();
  sentBytes = 0;

  constructor(private readonly calls: BackupCalls) {}

  /** Queues a chunk with its bytes (sent when missing). */
  async add(hash: string, data: Uint8Array): Promise<void> {
    if (this.asked.has(hash) && !this.lacking.has(hash)) return;
    if (this.batch.get(hash) !== undefined) return;
    this.batch.set(hash, data);
    this.batchBytes += data.length;
    await this.maybeFlush();
  }

  /** Queues a chunk known from the last backup, without its bytes; a missing one lands in `lacking`. */
  async addKnown(hash: string): Promise<void> {
    if (this.asked.has(hash) || this.batch.has(hash)) return;
    this.batch.set(hash, undefined);
    await this.maybeFlush();
  }

  private async maybeFlush(): Promise<void> {
    if (this.batch.size >= Math.min(BATCH_CHUNKS * 8, BACKUP_MISSING_BATCH) || this.batchBytes >= BATCH_BYTES || this.withBytes() >= BATCH_CHUNKS) await this.flush();
  }

  private withBytes(): number {
    let n = 0;
    for (const data of this.batch.values()) if (data) n++;
    return n;
  }

  async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = new Map();
    this.batchBytes = 0;
    if (batch.size === 0) return;
    const { missing } = await this.calls.call<{ missing: string[] }>('backup_missing', { hashes: [...batch.keys()] });
    for (const hash of batch.keys()) this.asked.add(hash);
    const toSend: { hash: string; data: Uint8Array }[] = [];
    for (const hash of missing) {
      const data = batch.get(hash);
      if (data) {
        toSend.push({ hash, data });
        this.lacking.delete(hash);
      } else if (batch.has(hash)) this.lacking.add(hash);
    }
    for (let i = 0; i < toSend.length; i += PUTS_IN_FLIGHT) {
      await Promise.all(toSend.slice(i, i + PUTS_IN_FLIGHT).map((c) => this.calls.put(c.hash, c.data)));
      for (const c of toSend.slice(i, i + PUTS_IN_FLIGHT)) this.sentBytes += c.data.length;
    }
  }
}

/**
 * What the last backup of a server saw of each file: while size, mtime, ctime and inode are the
 * same, the file is not read again and its chunk list is reused (as restic and rsync judge it).
 * ctime changes on every write, even one that sets the mtime back. Kept in memory: after an agent
 * restart the first backup reads everything.
 */
export type BackupCache = Map<string, { size: number; mtimeMs: number; ctimeMs: number; ino: number; chunks: ChunkRef[] }>;

/** The bytes of an open file from its start to its end as read now. */
async function* fileBytes(handle: FileHandle): AsyncGenerator<Buffer> {
  let position = 0;
  for (;;) {
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

interface Progress {
  bytes: number;
  files: number;
}

/**
 * Walks the directory open as `dirFd` (its path `prefix`, '' for the root) by fd, never through a
 * symlink: each name is looked at with O_PATH|O_NOFOLLOW and only directories and regular files are
 * reopened from that inode; symlinks, FIFOs, sockets and devices are left out, as are hard links to
 * another user's files (ServerJail.isForeign). Files are cut with FastCDC as they are read.
 */
interface WalkState {
  entries: BackupManifestEntry[];
  uploader: ChunkUploader;
  progress: Progress;
  /** The last backup's view of the files (read), and this one's (written). */
  previous: BackupCache;
  next: BackupCache;
}

/** Cuts an open file and queues its chunks with their bytes. */
async function cutFile(handle: FileHandle, state: WalkState): Promise<{ size: number; chunks: ChunkRef[] }> {
  const chunks: ChunkRef[] = [];
  let size = 0;
  for await (const chunk of chunkStream(fileBytes(handle))) {
    chunks.push({ hash: chunk.hash, size: chunk.size });
    size += chunk.size;
    state.progress.bytes += chunk.size;
    await state.uploader.add(chunk.hash, chunk.data);
  }
  return { size, chunks };
}

async function walk(jail: ServerJail, dirFd: number, prefix: string, depth: number, state: WalkState): Promise<void> {
  const { entries, progress } = state;
  for (const name of await sortedNames(dirFd, prefix || '/')) {
    const path = prefix ? `${prefix}/${name}` : name;
    let named: FileHandle;
    try {
      named = await open(at(dirFd, name), O_PATH | O_NOFOLLOW);
    } catch (error) {
      if (errno(error) === 'ENOENT') continue; // removed while we walk
      throw error;
    }
    let handle: FileHandle | undefined;
    try {
      const stat = await named.stat();
      const mode = stat.mode & 0o777;
      if (stat.isDirectory()) {
        if (depth >= MAX_DEPTH) throw tooDeep(path.slice(0, 64));
        entries.push({ path, type: 'dir', mode, mtime: stat.mtimeMs, size: 0 });
        handle = await open(at(named.fd), O_RDONLY | O_DIRECTORY);
        await walk(jail, handle.fd, path, depth + 1, state);
      } else if (stat.isFile() && !jail.isForeign(stat)) {
        const seen = state.previous.get(path);
        let file: { size: number; chunks: ChunkRef[] };
        if (seen && seen.size === stat.size && seen.mtimeMs === stat.mtimeMs && seen.ctimeMs === stat.ctimeMs && seen.ino === stat.ino) {
          // Unchanged since the last backup: its chunks are asked about without reading it (read after all if one is gone).
          for (const c of seen.chunks) await state.uploader.addKnown(c.hash);
          file = { size: seen.size, chunks: seen.chunks };
          progress.bytes += seen.size;
        } else {
          handle = await open(at(named.fd), O_RDONLY | O_NONBLOCK);
          file = await cutFile(handle, state);
        }
        progress.files++;
        state.next.set(path, { size: file.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, ino: stat.ino, chunks: file.chunks });
        entries.push({ path, type: 'file', mode, mtime: stat.mtimeMs, size: file.size, chunks: file.chunks });
      }
    } finally {
      await named.close().catch(() => undefined);
      await handle?.close();
    }
  }
}

/** Calls `report` every PROGRESS_MS until stopped; a failed report is only logged (the stall timeout decides). */
function reporter(report: () => Promise<unknown>, log: (line: string) => void): () => void {
  const timer = setInterval(() => void report().catch((error) => log(`backup progress not delivered: ${(error as Error).message}`)), PROGRESS_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** Takes a backup of `dir`: walks it, sends the chunks the files service lacks, stores the manifest and reports completion. */
export async function takeBackup(
  dir: string,
  calls: BackupCalls,
  log: (line: string) => void,
  release: () => void = () => undefined,
  cache?: { get(): BackupCache | undefined; set(next: BackupCache): void },
): Promise<{ size: number; files: number; sent: number; reread: number }> {
  const jail = await ServerJail.of(dir);
  const state: WalkState = { entries: [], uploader: new ChunkUploader(calls), progress: { bytes: 0, files: 0 }, previous: cache?.get() ?? new Map(), next: new Map() };
  const { entries, uploader, progress } = state;
  const stop = reporter(() => calls.call('backup_progress', progress), log);
  try {
    const root = await jail.openDir([]);
    try {
      await walk(jail, root.handle.fd, '', 0, state);
    } finally {
      await root.handle.close();
    }
    await uploader.flush();
    // Files skipped as unchanged whose chunks the store no longer has (collected): read them now.
    let reread = 0;
    if (uploader.lacking.size > 0) {
      for (const entry of entries) {
        if (entry.type !== 'file' || !(entry.chunks ?? []).some((c) => uploader.lacking.has(c.hash))) continue;
        const { handle, stat } = await jail.openFile(entry.path.split('/'));
        try {
          progress.bytes -= entry.size;
          const file = await cutFile(handle, state);
          Object.assign(entry, { size: file.size, chunks: file.chunks, mtime: stat.mtimeMs });
          state.next.set(entry.path, { size: file.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, ino: stat.ino, chunks: file.chunks });
          reread++;
        } finally {
          await handle.close();
        }
      }
      await uploader.flush();
      if (uploader.lacking.size > 0) throw new ConflictError('Chunks of unchanged files went missing while the backup was taken', { reason: 'chunks_gone' });
    }
    const manifest: BackupManifest = { version: 1, entries };
    const manifestChunks = chunkBuffer(Buffer.from(JSON.stringify(manifest), 'utf8'));
    for (const c of manifestChunks) await uploader.add(c.hash, c.data);
    await uploader.flush();
    // The directory is read: the next backup of this server may begin as soon as this one is recorded.
    release();
    await calls.call('backup_complete', { manifest: manifestChunks.map((c) => ({ hash: c.hash, size: c.size })), size: progress.bytes, files_count: progress.files });
    cache?.set(state.next);
    return { size: progress.bytes, files: progress.files, sent: uploader.sentBytes, reread };
  } finally {
    stop();
  }
}

const within = (path: string, target: string) => target === '' || path === target || path.startsWith(`${target}/`);

/**
 * Removes what is under `target` but not in the backup (`keep`): walked by fd, never through a
 * symlink; a directory not in the backup goes with everything in it.
 */
async function removeExtras(jail: ServerJail, dirFd: number, prefix: string, keep: Map<string, BackupManifestEntry>, depth: number): Promise<void> {
  for (const name of await sortedNames(dirFd, prefix || '/')) {
    const path = prefix ? `${prefix}/${name}` : name;
    const wanted = keep.get(path);
    let named: FileHandle;
    try {
      named = await open(at(dirFd, name), O_PATH | O_NOFOLLOW);
    } catch (error) {
      if (errno(error) === 'ENOENT') continue;
      throw error;
    }
    try {
      const stat = await named.stat();
      const sameType = wanted && ((wanted.type === 'dir' && stat.isDirectory()) || (wanted.type === 'file' && stat.isFile()));
      if (!sameType) {
        await jail.remove(path.split('/'));
      } else if (stat.isDirectory() && depth < MAX_DEPTH) {
        const handle = await open(at(named.fd), O_RDONLY | O_DIRECTORY);
        try {
          await removeExtras(jail, handle.fd, path, keep, depth + 1);
        } finally {
          await handle.close();
        }
      }
    } finally {
      await named.close().catch(() => undefined);
    }
  }
}

/**
 * Restores the backup (or the entries at and under `path`) into `dir`, through the jail: what is
 * there and not in the backup is removed first (the tree is replaced), then directories are made and
 * files written with the backup's bytes, modes and mtimes. The server should be stopped (the gateway
 * refuses a restore of a running server): its process could otherwise write meanwhile.
 */
export async function restoreBackup(dir: string, calls: BackupCalls, manifestRefs: ChunkRef[], path: string | null, log: (line: string) => void): Promise<Progress> {
  const jail = await ServerJail.of(dir);
  const store = calls.asStore();
  const parts: Buffer[] = [];
  for await (const part of readChunks(store, manifestRefs)) parts.push(part);
  const manifest = backupManifestSchema.parse(JSON.parse(Buffer.concat(parts).toString('utf8')));
  const target = path === null ? '' : parseClientPath(path).join('/');
  const entries = manifest.entries.filter((e) => within(e.path, target));
  if (target && entries.length === 0) throw new NotFoundError('Path in the backup', `/${target}`);
  const keep = new Map(entries.map((e) => [e.path, e]));
  const progress: Progress = { bytes: 0, files: 0 };
  const stop = reporter(() => calls.call('backup_progress', progress), log);
  try {
    // Replace the tree: at the root, everything; for a path, that entry (when its type changed) or what is under it.
    const root = await jail.openDir([]);
    try {
      if (!target) await removeExtras(jail, root.handle.fd, '', keep, 0);
    } finally {
      await root.handle.close();
    }
    if (target) {
      const top = keep.get(target)!;
      const e = await jail.entry(target.split('/'), { createParents: true });
      await e.dir.handle.close();
      const sameType = e.stat && ((top.type === 'dir' && e.stat.isDirectory()) || (top.type === 'file' && e.stat.isFile()));
      if (e.stat && !sameType) await jail.remove(target.split('/'));
      else if (e.stat?.isDirectory()) {
        const d = await jail.openDir(target.split('/'));
        try {
          await removeExtras(jail, d.handle.fd, target, keep, target.split('/').length);
        } finally {
          await d.handle.close();
        }
      }
    }
    for (const entry of entries) {
      const p = entry.path.split('/');
      if (entry.type === 'dir') {
        await jail.mkdir(p).catch((error) => (error instanceof DomainError && error.code === 'ALREADY_EXISTS' ? undefined : Promise.reject(error)));
        await jail.chmod(p, entry.mode);
        continue;
      }
      const handle = await jail.createFile(p);
      try {
        let position = 0;
        for await (const data of readChunks(store, entry.chunks ?? [])) {
          await handle.write(data, 0, data.length, position);
          position += data.length;
          progress.bytes += data.length;
        }
        await handle.truncate(position);
        await handle.chmod(entry.mode);
        await handle.utimes(new Date(entry.mtime), new Date(entry.mtime));
      } finally {
        await handle.close();
      }
      progress.files++;
    }
    // Directory mtimes last (writing into a directory changes it), deepest first.
    for (const entry of [...entries].reverse()) {
      if (entry.type !== 'dir') continue;
      const e = await jail.entry(entry.path.split('/'));
      try {
        if (e.stat?.isDirectory()) await lutimes(at(e.dir.handle.fd, e.name), new Date(entry.mtime), new Date(entry.mtime));
      } finally {
        await e.dir.handle.close();
      }
    }
    return progress;
  } finally {
    stop();
  }
}

/**
 * The agent's backup verbs (`agent.<nodeId>.cmd.backup.create` / `.restore`), sent by the files
 * service. Each answers at once (`{ accepted: true }`) and works in the background, reporting to the
 * files service with the session token it was given; a failure is reported as `backup_fail`. One
 * backup or restore per server at a time (409 otherwise).
 */
export function backupCommandHandlers(options: BackupHandlerOptions): Record<string, CommandHandler> {
  const busy = new Set<string>();
  /** Per server directory: what its last completed backup saw (BackupCache). */
  const caches = new Map<string, BackupCache>();

  const start = (serverId: string, backupId: string, token: string, what: string, work: (dir: string, calls: FilesCalls, release: () => void) => Promise<unknown>) => {
    const dir = options.serverDir(serverId);
    if (!dir) throw new NotFoundError('Server', serverId);
    const nc = options.nc();
    if (!nc || nc.isClosed()) throw new DomainError('SERVICE_UNAVAILABLE', 'agent: not connected to NATS');
    if (busy.has(serverId)) throw new ConflictError(`A backup or restore of server ${serverId} is in progress`, { reason: 'busy' });
    busy.add(serverId);
    const calls = new FilesCalls(nc, options.nodeId(), backupId, token);
    void (async () => {
      const started = Date.now();
      try {
        const result = await work(dir, calls, () => busy.delete(serverId));
        options.log(`${what} ${backupId} of server ${serverId} done in ${Date.now() - started} ms: ${JSON.stringify(result)}`);
      } catch (error) {
        const reason = (error as Error).message || String(error);
        options.log(`${what} ${backupId} of server ${serverId} failed: ${reason}`);
        await calls.call('backup_fail', { reason: reason.slice(0, 500) }).catch((e) => options.log(`${what} ${backupId}: the failure was not delivered: ${(e as Error).message}`));
      } finally {
        busy.delete(serverId);
      }
    })();
    return { accepted: true };
  };

  return {
    'backup.create': async (data: unknown) => {
      const c = parse(agentBackupCreateSchema, data);
      return start(c.server_id, c.backup_id, c.token, 'backup', (dir, calls, release) =>
        takeBackup(dir, calls, options.log, release, { get: () => caches.get(dir), set: (next) => caches.set(dir, next) }),
      );
    },
    'backup.restore': async (data: unknown) => {
      const c = parse(agentBackupRestoreSchema, data);
      return start(c.server_id, c.backup_id, c.token, 'restore', async (dir, calls, release) => {
        caches.delete(dir);
        const done = await restoreBackup(dir, calls, c.manifest, c.path, options.log).finally(() => options.restored?.(c.server_id));
        release();
        await calls.call('backup_restored', { files: done.files, bytes: done.bytes });
        return done;
      });
    },
  };
}
