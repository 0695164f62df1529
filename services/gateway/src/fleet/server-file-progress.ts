import type { Server } from 'socket.io';
import type { ServerFileProgress } from '@encedeus/contracts';
import type { Principal } from '@encedeus/security';
import { ServerEvents } from '../realtime/wire';
import type { SessionData } from '../realtime/sessions/socket-sessions';

/** How long a socket on another gateway instance is looked for. */
const FIND_SOCKET_MS = 1000;

/** At most one progress message per transfer this often (the last, `done`, always goes). */
export const PROGRESS_INTERVAL_MS = 250;

/**
 * Progress of an upload, import or export, pushed over socket.io to the one socket the caller named
 * (`socket_id`) when that socket belongs to the same user; any other socket id gets nothing (a user
 * cannot watch another's transfers). Throttled to PROGRESS_INTERVAL_MS.
 */
export class TransferProgress {
  private lastAt = 0;

  private constructor(
    private readonly io: Server | undefined,
    private readonly socketId: string | undefined,
    private readonly base: Omit<ServerFileProgress, 'bytes' | 'done'>,
  ) {}

  /** A reporter for `socketId` (silent when there is none, it is not the caller's, or realtime is off). */
  static async to(io: Server | undefined, principal: Principal, socketId: string | undefined, base: Omit<ServerFileProgress, 'bytes' | 'done'>): Promise<TransferProgress> {
    if (!io || !socketId) return new TransferProgress(undefined, undefined, base);
    const ownedBy = (data: unknown) => (data as Partial<SessionData> | undefined)?.principal?.userId === principal.userId;
    const local = io.of('/').sockets.get(socketId);
    if (local) return new TransferProgress(ownedBy(local.data) ? io : undefined, socketId, base);
    // Connected to another gateway instance: asked through the adapter, waiting at most FIND_SOCKET_MS
    // (the adapter waits for every instance it knows, a gone one included).
    const sockets = await Promise.race([io.in(socketId).fetchSockets().catch(() => []), new Promise<[]>((resolve) => setTimeout(() => resolve([]), FIND_SOCKET_MS).unref())]);
    const owned = sockets.some((s) => s.id === socketId && ownedBy(s.data));
    return new TransferProgress(owned ? io : undefined, socketId, base);
  }

  update(bytes: number): void {
    const now = Date.now();
    if (now - this.lastAt < PROGRESS_INTERVAL_MS) return;
    this.lastAt = now;
    this.emit(bytes, false);
  }

  done(bytes: number): void {
    this.emit(bytes, true);
  }

  private emit(bytes: number, done: boolean): void {
    if (!this.io || !this.socketId) return;
    const message: ServerFileProgress = { ...this.base, bytes, done };
    this.io.to(this.socketId).emit(ServerEvents.serverFilesProgress, message);
  }
}
