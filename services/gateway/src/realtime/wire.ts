import { z } from 'zod';
import { text } from '@encedeus/contracts';
import type { CloudEvent, ErrorCode, NodeSpec } from '@encedeus/contracts';

/*
 * The socket.io protocol of the gateway (path `/socket.io`, same port as REST, transport websocket).
 * The console codes against exactly these names and shapes; change them only by adding fields.
 */

/** Client → server events. */
export const ClientEvents = {
  /** `{ token }` → ack `{ ok: true, expiresAt? } | { error, code }`. */
  reauth: 'reauth',
  /** `{ room }` → ack `{ ok: true } | { error, code }`. */
  subscribe: 'subscribe',
  /** `{ room }` → ack `{ ok: true } | { error, code }`. */
  unsubscribe: 'unsubscribe',
  /** `{ id, call, params }`: starts an interactive call (seed 003). */
  call: 'call',
  /** `{ id }`: cancels a running call; a finished or unknown id is ignored. */
  cancel: 'cancel',
} as const;

/** Server → client events. */
export const ServerEvents = {
  tokenExpiring: 'token_expiring',
  revoked: 'revoked',
  /** A room the socket was in is no longer allowed (permissions changed): `{ room, code }`. */
  unsubscribed: 'unsubscribed',
  nodeState: 'node.state',
  nodeUsage: 'node.usage',
  serverState: 'server.state',
  serverUsage: 'server.usage',
  consoleScrollback: 'console.scrollback',
  consoleLine: 'console.line',
  event: 'event',
  line: 'line',
  result: 'result',
  /** To one socket of the user moving server files: ServerFileProgress (`upload_id`, bytes so far, `done`). */
  serverFilesProgress: 'server_files.progress',
  /** To room `server:<id>`, members holding backups.read: BackupPush (each backup.* event of the server's backups). */
  serverBackup: 'server.backup',
} as const;

/** A backup of a server changed (issue 11): the event type (`backup.progressed`, `backup.completed`…) and its data. */
export interface BackupPush {
  serverId: string;
  backupId: string;
  event: string;
  data: Record<string, unknown>;
  at: string;
}

export type Ack = { ok: true; expiresAt?: string } | { error: string; code: ErrorCode };

export const tokenMessageSchema = z.object({ token: text().min(1).max(8192) });
export const roomMessageSchema = z.object({ room: text().min(1).max(200) });
export const callMessageSchema = z.object({
  id: text().min(1).max(100),
  call: text().min(1).max(100),
  params: z.unknown().optional(),
});
export const cancelMessageSchema = z.object({ id: text().min(1).max(100) });

export interface TokenExpiring {
  /** ISO time the token stops working. */
  expiresAt: string;
}

export interface Revoked {
  reason: string;
  code: 'UNAUTHENTICATED' | 'TOKEN_EXPIRED';
}

export interface NodeStatePush {
  nodeId: string;
  state: 'online' | 'offline' | 'deleted';
  spec?: NodeSpec;
  /** The event type that caused the push, e.g. `node.came_online`. */
  event: string;
  at: string;
}

export interface NodeUsagePush {
  nodeId: string;
  cpu_percent: number;
  memory_usage: number;
  memory_limit: number;
  load?: number[];
  disk_used?: number;
  disk_total?: number;
  net_rx?: number;
  net_tx?: number;
  at: string;
}

export interface ServerStatePush {
  serverId: string;
  state: string;
  event: string;
  at: string;
}

export interface ServerUsagePush {
  serverId: string;
  cpu_percent: number;
  memory_bytes: number;
  memory_limit_bytes: number;
  disk_bytes: number;
  uptime_ms?: number;
  at: string;
}

export interface ConsoleScrollback {
  serverId: string;
  lines: string[];
}

export interface ConsoleLinePush {
  serverId: string;
  line: string;
  stream?: string;
  /** Agent clock, epoch ms, when the agent sent one. */
  at?: number;
}

export interface EventPush {
  sequence: number;
  event: CloudEvent;
}

export interface LineMessage {
  id: string;
  line: string;
  stream?: string;
}

export interface ResultMessage {
  id: string;
  success: boolean;
  message?: string;
  code?: ErrorCode;
  data?: unknown;
}
