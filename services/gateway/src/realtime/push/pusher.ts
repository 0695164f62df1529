import type { Server, Socket } from 'socket.io';
import type { Principal } from '@encedeus/security';
import { parseRoom, type RoomAccess } from '../rooms/rooms';
import { sessionOf } from '../sessions/socket-sessions';
import { ServerEvents } from '../wire';

/** Who, among a room's members, may receive one message (beyond being allowed in the room). */
export type Audience = (principal: Principal) => boolean;

/**
 * Emits projections to the sockets of this instance only. Every gateway instance reads NATS
 * itself, so going through the cross-instance adapter would deliver each push once per instance.
 *
 * Every message is checked against each member's current principal: a member no longer allowed
 * in the room leaves it (and is told with `unsubscribed`); one allowed in the room but not to see
 * this message (console lines without `servers.console`) is skipped.
 */
export class Pusher {
  constructor(
    private readonly io: Server,
    private readonly access: RoomAccess,
  ) {}

  /** Number of local members of a room. */
  size(room: string): number {
    return this.io.of('/').adapter.rooms.get(room)?.size ?? 0;
  }

  push(room: string, event: string, payload: unknown, audience?: Audience): void {
    const members = this.io.of('/').adapter.rooms.get(room);
    if (!members || members.size === 0) return;
    const parsed = parseRoom(room);
    if (!parsed) return;
    const sockets = this.io.of('/').sockets;
    let skip: string[] | undefined;
    let evicted: Socket[] | undefined;
    for (const id of members) {
      const socket = sockets.get(id);
      const principal = socket && sessionOf(socket).principal;
      if (!socket || !principal) {
        (skip ??= []).push(id);
      } else if (!this.access.allowed(principal, parsed)) {
        (skip ??= []).push(id);
        (evicted ??= []).push(socket);
      } else if (audience && !audience(principal)) {
        (skip ??= []).push(id);
      }
    }
    if (!skip) this.io.local.to(room).emit(event, payload);
    else if (skip.length < members.size) this.io.local.to(room).except(skip).emit(event, payload);
    for (const socket of evicted ?? []) leaveForbidden(socket, room);
  }

  /** Emits to one socket after the same checks (scrollback and catch-up on join). */
  pushTo(socket: Socket, room: string, event: string, payload: unknown, audience?: Audience): boolean {
    const principal = sessionOf(socket).principal;
    const parsed = parseRoom(room);
    if (!principal || !parsed || !this.access.allowed(principal, parsed)) return false;
    if (audience && !audience(principal)) return false;
    socket.emit(event, payload);
    return true;
  }
}

/** Takes a socket out of a room it may no longer be in, and says so. */
export function leaveForbidden(socket: Socket, room: string): void {
  void socket.leave(room);
  socket.emit(ServerEvents.unsubscribed, { room, code: 'FORBIDDEN' });
}
