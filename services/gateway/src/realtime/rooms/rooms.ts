import type { Principal } from '@encedeus/security';
import type { ServerOwners } from './server-owners';

/** A room a client may join: the whole fleet, one node, one server, or the raw event feed. */
export type Room =
  | { kind: 'fleet'; name: 'fleet' }
  | { kind: 'events'; name: 'events' }
  | { kind: 'node'; name: string; id: string }
  | { kind: 'server'; name: string; id: string };

// Same alphabet as a NATS subject token, so a room id can be put into a subject as is.
const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Parses `fleet`, `events`, `node:<id>` or `server:<id>`; anything else is undefined. */
export function parseRoom(name: string): Room | undefined {
  if (name === 'fleet' || name === 'events') return { kind: name, name } as Room;
  const colon = name.indexOf(':');
  if (colon < 0) return undefined;
  const kind = name.slice(0, colon);
  const id = name.slice(colon + 1);
  if (!ID.test(id)) return undefined;
  if (kind === 'node' || kind === 'server') return { kind, name, id };
  return undefined;
}

export const nodeRoom = (nodeId: string) => `node:${nodeId}`;
export const serverRoom = (serverId: string) => `server:${serverId}`;
export const FLEET_ROOM = 'fleet';

/** Who gets node pushes in the fleet room. */
export const NODES_AUDIENCE = (principal: Principal): boolean => principal.permissions.has('nodes.read');
export const EVENTS_ROOM = 'events';

/**
 * Who may be in a room, decided without I/O so it can run on every outbound message.
 * A server room needs `servers.read` or being the server's owner or sub-user (ServerOwners must
 * know the server: joining looks it up first).
 */
export class RoomAccess {
  constructor(private readonly owners: ServerOwners) {}

  allowed(principal: Principal, room: Room): boolean {
    switch (room.kind) {
      case 'fleet':
        // Everyone signed in: server pushes in it are filtered to the servers a member sees, node
        // pushes to `nodes.read` (NODES_AUDIENCE). A user without nodes.read got no live updates at all (issue 14).
        return true;
      case 'node':
        return principal.permissions.has('nodes.read');
      case 'events':
        return principal.permissions.has('events.read');
      case 'server':
        return this.seesServer(principal, room.id);
    }
  }

  /** The same check by room name; an unknown name is never allowed. */
  allowedByName(principal: Principal, name: string): boolean {
    const room = parseRoom(name);
    return !!room && this.allowed(principal, room);
  }

  seesServer(principal: Principal, serverId: string): boolean {
    return this.owners.sees(principal, serverId);
  }

  /** Console lines and commands: `servers.console` on a server one sees; a sub-user also needs the `console` grant (contracts' canWatchServer). */
  usesConsole(principal: Principal, serverId: string): boolean {
    return principal.permissions.has('servers.console') && this.owners.watches(principal, serverId, 'console');
  }
}
