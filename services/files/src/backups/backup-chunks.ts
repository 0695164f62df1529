import { Logger } from '@nestjs/common';
import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from 'nats';
import { z } from 'zod';
import { assertChunkHash, CHUNK_MAX_SIZE, type ChunkStore } from '@encedeus/chunks';
import { BACKUP_CHUNK_VERBS, BACKUP_HEADERS, DomainError, NotFoundError, Subjects } from '@encedeus/contracts';
import { agentOfReply, toErrorBody } from '@encedeus/messaging';
import type { BackupSessions } from './backup-sessions';

/** Header of a failed chunk call's reply; the body is then the JSON error `{ error, code }`. */
export const BACKUP_ERROR_HEADER = 'Encedeus-Error';

const uuid = z.uuid();

/**
 * The binary half of the agent's backup calls, on plain NATS subscriptions (queue group `files`)
 * because a chunk (up to 4 MiB) would grow by a third as base64 in Nest's JSON:
 * - `cmd.files.backup_put_chunk`: body = the chunk, headers = backup, token, hash. Stored only when
 *   its SHA-256 is the hash (ChunkStore.put verifies), so an agent cannot put garbage under an
 *   address other files and backups share. Bytes new to the store count as the backup's `new_bytes`.
 * - `cmd.files.backup_get_chunk`: a restore fetches a chunk the backup lists.
 * Both answer only a request from an agent (reply subject `agent.<id>.reply.<n>`) holding the
 * session of that backup (BackupSessions.check: token and node).
 */
export class BackupChunks {
  private readonly logger = new Logger('files/backup-chunks');
  private subs: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly chunks: ChunkStore,
    private readonly sessions: BackupSessions,
  ) {}

  start(): void {
    const listen = (verb: string, handle: (msg: Msg, agent: string) => Promise<Uint8Array>) =>
      this.nc.subscribe(Subjects.command('files', verb), {
        queue: 'files',
        callback: (error, msg) => {
          if (error) return;
          const agent = agentOfReply(msg.reply);
          // Not an agent's request (nobody to answer, or a JetStream delivery): ignored, as CommandServerNats does.
          if (!agent) return;
          void handle(msg, agent).then(
            (data) => msg.respond(data),
            (failure: unknown) => {
              const h = natsHeaders();
              h.set(BACKUP_ERROR_HEADER, '1');
              msg.respond(new TextEncoder().encode(JSON.stringify(toErrorBody(failure, undefined))), { headers: h });
              if (!(failure instanceof DomainError)) this.logger.warn(`${verb} failed: ${(failure as Error).message}`);
            },
          );
        },
      });
    this.subs = [listen(BACKUP_CHUNK_VERBS.put, (m, a) => this.put(m, a)), listen(BACKUP_CHUNK_VERBS.get, (m, a) => this.get(m, a))];
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }

  private params(msg: Msg): { backupId: string; token: string; hash: string } {
    const backupId = msg.headers?.get(BACKUP_HEADERS.backup) ?? '';
    const token = msg.headers?.get(BACKUP_HEADERS.token) ?? '';
    const hash = msg.headers?.get(BACKUP_HEADERS.hash) ?? '';
    if (!uuid.safeParse(backupId).success) throw new DomainError('VALIDATION_FAILED', 'The backup header is not a UUID', { fields: [{ path: BACKUP_HEADERS.backup, message: 'a UUID' }] });
    assertChunkHash(hash);
    return { backupId, token, hash };
  }

  private async put(msg: Msg, agent: string): Promise<Uint8Array> {
    const { backupId, token, hash } = this.params(msg);
    await this.sessions.checkKind('backup', backupId, token, agent);
    if (msg.data.length > CHUNK_MAX_SIZE) throw new DomainError('PAYLOAD_TOO_LARGE', `A chunk is at most ${CHUNK_MAX_SIZE} bytes`, { max: CHUNK_MAX_SIZE });
    const existed = await this.chunks.has(hash);
    // Verifies the SHA-256 (no `hashed` option: the bytes come from an agent).
    await this.chunks.put(hash, msg.data);
    await this.sessions.addRefs(this.sessions.database, backupId, [hash]);
    if (!existed) await this.sessions.addNewBytes(backupId, token, msg.data.length);
    return new TextEncoder().encode(JSON.stringify({ stored: true, new: !existed }));
  }

  private async get(msg: Msg, agent: string): Promise<Uint8Array> {
    const { backupId, token, hash } = this.params(msg);
    await this.sessions.checkKind('restore', backupId, token, agent);
    if (!(await this.sessions.listed(backupId, hash))) throw new NotFoundError('Chunk of this backup', hash);
    const data = await this.chunks.get(hash);
    if (!data) throw new NotFoundError('Chunk', hash);
    return data;
  }
}
