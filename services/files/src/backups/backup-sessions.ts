import { createHash, randomBytes } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { DomainError, ForbiddenError, NotFoundError } from '@encedeus/contracts';

const SCHEMA = 'files';

/** The advisory lock the chunk collector holds exclusively while it marks and sweeps; a backup's "which chunks are missing" holds it shared. */
export const CHUNK_GC_LOCK = 'files.chunk-gc';
export const advisoryKey = (key: string) => `hashtext('encedeus'), hashtext('${key}')`;

/** What an agent was given for one backup or restore. */
export interface BackupSession {
  backupId: string;
  kind: 'backup' | 'restore';
  restoreId: string | null;
  nodeId: string;
  newBytes: number;
}

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Sessions of agents working on a backup or restore (Postgres `files.backup_sessions`, only the
 * token's SHA-256 stored). The process manager opens one when it hands the work to the server's
 * agent, sending the token in `agent.<nodeId>.cmd.backup.*` (which only that agent receives); the
 * agent sends it back with every call. A call passes only when its token names an open session of
 * that backup AND the command server's agent-node header (set from the reply subject) is the
 * session's node. The header alone is not proof for a call whose answer the caller does not need
 * (another agent may set any reply subject); the token is, since no other agent ever saw it.
 */
export class BackupSessions {
  constructor(private readonly db: DataSource) {}

  /** The connection sessions are kept on (for references written outside a transaction). */
  get database(): Pick<EntityManager, 'query'> {
    return this.db;
  }

  /** A new session for `backupId`; answers the token to hand to the agent. */
  async open(backupId: string, kind: 'backup' | 'restore', nodeId: string, restoreId: string | null = null): Promise<string> {
    const token = randomBytes(24).toString('base64url');
    await this.db.query(`insert into ${SCHEMA}.backup_sessions (token_sha256, backup_id, kind, restore_id, node_id) values ($1, $2, $3, $4, $5)`, [
      sha256(token),
      backupId,
      kind,
      restoreId,
      nodeId,
    ]);
    return token;
  }

  /**
   * The open session of `backupId` that `token` names, asked by the agent of `agentNode`; 403 when
   * the caller is not an agent, is another node's, or the token is not this backup's (or the work ended).
   */
  async check(backupId: string, token: string, agentNode: string | undefined, em: Pick<EntityManager, 'query'> = this.db): Promise<BackupSession> {
    if (!agentNode) throw new ForbiddenError('Only the agent of the backup\'s node may call this', { reason: 'not_an_agent' });
    const [row] = (await em.query(`select backup_id, kind, restore_id, node_id, new_bytes from ${SCHEMA}.backup_sessions where token_sha256 = $1`, [sha256(token)])) as {
      backup_id: string;
      kind: 'backup' | 'restore';
      restore_id: string | null;
      node_id: string;
      new_bytes: string;
    }[];
    if (!row || row.backup_id !== backupId || row.node_id !== agentNode) {
      throw new ForbiddenError('No such backup session for this agent (another node, a wrong token, or the work has ended)', { reason: 'no_session' });
    }
    return { backupId: row.backup_id, kind: row.kind, restoreId: row.restore_id, nodeId: row.node_id, newBytes: Number(row.new_bytes) };
  }

  /** `check`, and the session must be of this kind (a restore's token cannot store chunks). */
  async checkKind(kind: BackupSession['kind'], backupId: string, token: string, agentNode: string | undefined, em?: Pick<EntityManager, 'query'>): Promise<BackupSession> {
    const session = await this.check(backupId, token, agentNode, em);
    if (session.kind !== kind) throw new ForbiddenError(`This session is a ${session.kind}, not a ${kind}`, { reason: 'wrong_session' });
    return session;
  }

  /** Chunks the running backup relies on: live for the collector until the backup ends. */
  async addRefs(em: Pick<EntityManager, 'query'>, backupId: string, hashes: string[]): Promise<void> {
    await em.query(`insert into ${SCHEMA}.backup_refs (backup_id, hash) select $1, h from unnest($2::text[]) as t(h) on conflict do nothing`, [backupId, hashes]);
  }

  /** Counts bytes the backup stored that were new to the chunk store. */
  async addNewBytes(backupId: string, token: string, bytes: number): Promise<void> {
    await this.db.query(`update ${SCHEMA}.backup_sessions set new_bytes = new_bytes + $3 where token_sha256 = $1 and backup_id = $2`, [sha256(token), backupId, bytes]);
  }

  /** Hashes of `hashes` that the backup did not ask about or send (a manifest may list only those). */
  async unreferenced(backupId: string, hashes: string[]): Promise<string[]> {
    const rows = (await this.db.query(
      `select h from unnest($2::text[]) as t(h) where not exists (select 1 from ${SCHEMA}.backup_refs r where r.backup_id = $1 and r.hash = t.h)`,
      [backupId, [...new Set(hashes)]],
    )) as { h: string }[];
    return rows.map((r) => r.h);
  }

  /** Ends every session of the backup (of one kind) and, for a backup, drops its refs (the completed backup's chunks are listed by the projection by then). */
  async end(backupId: string, kind: BackupSession['kind']): Promise<void> {
    await this.db.query(`delete from ${SCHEMA}.backup_sessions where backup_id = $1 and kind = $2`, [backupId, kind]);
    if (kind === 'backup') await this.db.query(`delete from ${SCHEMA}.backup_refs where backup_id = $1`, [backupId]);
  }

  /** Whether the chunk is listed by this backup (completed: backup_chunks). A restore may fetch only those. */
  async listed(backupId: string, hash: string): Promise<boolean> {
    const rows = (await this.db.query(`select 1 from ${SCHEMA}.backup_chunks where backup_id = $1 and hash = $2`, [backupId, hash])) as unknown[];
    return rows.length > 0;
  }
}

/** The backup row of a server (404 when it is another server's or deleted). */
export function notFound(backupId: string): DomainError {
  return new NotFoundError('Backup', backupId);
}
