import { z } from 'zod';
import {
  ConflictError,
  NotFoundError,
  SERVER_FILE_ARGS,
  SERVER_FILE_VERBS,
  ValidationError,
  type ServerDirectoryCreated,
  type ServerFileModeChanged,
  type ServerFileRenamed,
  type ServerFileVerb,
} from '@encedeus/contracts';
import type { CommandHandler } from '../bus/agent-bus';
import type { DiskQuotas } from './disk-quota';
import type { FileTransfers } from './file-transfers';
import { compress, decompress } from './server-archives';
import { ServerFiles } from './server-files';

const serverIdSchema = z.object({ server_id: z.uuid() });

/**
 * Verbs that walk or write whole trees: one at a time per server. The caller stops waiting after its
 * timeout but the agent goes on, so without this a user could stack up any number of them.
 */
const EXCLUSIVE: ReadonlySet<ServerFileVerb> = new Set(['compress', 'decompress']);

/** Parses a command body with its schema; a bad one is 422 with the fields, as at the gateway. */
function parse<T>(schema: z.ZodType<T>, data: unknown): T {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const fields = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  throw new ValidationError(`Invalid command: ${fields.map((f) => f.path || '(body)').join(', ')}`, fields);
}

/** What the verbs need beside the server's directory. */
export interface FsCommandOptions {
  /** Each server's disk use against its `limits.disk_mb` (writes past it are 413 DISK_QUOTA_EXCEEDED). */
  quotas: DiskQuotas;
  /** Streamed transfers (open_read, open_write, commit_write). */
  transfers: FileTransfers;
}

/**
 * The file-manager verbs, `fs.<verb>` on `agent.<nodeId>.cmd.fs.<verb>` (AgentBus handler names).
 * `serverDir` answers the directory of a server this agent runs, or undefined (404).
 */
export function fsCommandHandlers(serverDir: (serverId: string) => string | undefined, options: FsCommandOptions): Record<string, CommandHandler> {
  const { transfers } = options;
  const run: Record<ServerFileVerb, (files: ServerFiles, args: any, serverId: string) => Promise<unknown>> = {
    list: (f, a) => f.list(a.path, a.limit, a.cursor),
    contents: (f, a) => f.contents(a.path),
    write: (f, a) => f.write(a.path, a.data),
    rename: async (f, a): Promise<ServerFileRenamed> => (await f.rename(a.from, a.to), { renamed: true }),
    copy: (f, a) => f.copy(a.path),
    delete: (f, a) => f.delete(a.paths),
    mkdir: async (f, a): Promise<ServerDirectoryCreated> => (await f.mkdir(a.path), { created: true }),
    chmod: async (f, a): Promise<ServerFileModeChanged> => (await f.chmod(a.path, a.mode), { changed: true }),
    compress: (f, a) => compress(f.serverJail, a.paths, a.name),
    decompress: (f, a) => decompress(f.serverJail, a.path),
    open_read: (f, a, id) => transfers.openRead(f.serverJail, id, a.path),
    open_write: (f, a, id) => transfers.openWrite(f.serverJail, id, a.path, a.expected_bytes),
    commit_write: (_f, a, id) => transfers.commitWrite(id, a.transfer, a.path, a.size),
  };
  const handlers: Record<string, CommandHandler> = {};
  const busy = new Set<string>();
  for (const verb of SERVER_FILE_VERBS) {
    handlers[`fs.${verb}`] = async (data: unknown) => {
      const { server_id: serverId } = parse(serverIdSchema, data);
      const args = parse(SERVER_FILE_ARGS[verb], data);
      const dir = serverDir(serverId);
      if (!dir) throw new NotFoundError('Server', serverId);
      const open = async () => ServerFiles.open(dir, await options.quotas.of(serverId));
      if (!EXCLUSIVE.has(verb)) return run[verb](await open(), args, serverId);
      if (busy.has(serverId)) throw new ConflictError(`An archive of server ${serverId} is being made or extracted; try again when it is done`, { reason: 'busy' });
      busy.add(serverId);
      try {
        return await run[verb](await open(), args, serverId);
      } finally {
        busy.delete(serverId);
      }
    };
  }
  return handlers;
}
