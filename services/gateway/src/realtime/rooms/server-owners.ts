import { Injectable } from '@nestjs/common';
import { CommandClient } from '@encedeus/messaging';
import {
  canSeeServer,
  canWatchServer,
  DomainError,
  ForbiddenError,
  missingToControlServer,
  NotFoundError,
  seesEveryServer,
  type CloudEvent,
  type ServerAction,
  type ServerOwnership,
  type ServerSubuser,
  type ServerView,
  type SubuserPermission,
} from '@encedeus/contracts';
import type { Principal } from '@encedeus/security';

const CACHE_LIMIT = 100_000;
/** Servers a telemetry sample named that the nodes service did not know, remembered this long. */
const UNKNOWN_TTL_MS = 60_000;

/** What this instance knows of a server: who owns it and which node runs it (neither ever changes), and its sub-users. */
interface Placement {
  owner: string;
  nodeId: string;
  subusers: readonly ServerSubuser[];
}

const ownership = (p: Placement): ServerOwnership => ({ owner_id: p.owner, subusers: p.subusers });

/**
 * Owner, node and sub-users of each server, asked of the nodes service (`cmd.nodes.get_server`) once
 * and then kept current from `server.created` / `server.subuser_*` / `server.deleted` events. Who
 * may do what is contracts' canSeeServer / canControlServer; this class only supplies the server.
 *
 * Sub-users (docs/subusers.md): the checks that may wait (joining a room, a socket call) look a
 * caller that is neither the owner nor sees every server up afresh, so a removed sub-user is refused
 * at its next action even before this instance has the `server.subuser_removed` event; the
 * per-message checks (pushes) use what the events told, which follows within the feed's delay.
 */
@Injectable()
export class ServerOwners {
  private readonly servers = new Map<string, Placement>();
  private readonly unknown = new Map<string, number>();
  private readonly resolving = new Set<string>();

  /** Whether a server's room has members here; their owners are never evicted, so the per-message check keeps working. */
  inUse: (serverId: string) => boolean = () => false;

  constructor(private readonly commands: CommandClient) {}

  /** The owner if known, without I/O (the per-message check). */
  peek(serverId: string): string | undefined {
    return this.servers.get(serverId)?.owner;
  }

  /** The server as the rule needs it; looked up afresh for a caller that could only be a sub-user. */
  private async ownership(principal: Principal, serverId: string): Promise<ServerOwnership> {
    const known = await this.lookup(serverId, principal.actor);
    if (known.owner === principal.userId || seesEveryServer(principal)) return ownership(known);
    return ownership(await this.lookup(serverId, principal.actor, true));
  }

  /**
   * Makes sure `principal` may see the server, looking the owner up when unknown.
   * Throws NotFoundError for an unknown server and ForbiddenError for someone else's; when the
   * nodes service is down, seeing every server (`servers.read`) still lets the caller in.
   */
  async authorize(principal: Principal, serverId: string): Promise<void> {
    let server: ServerOwnership;
    try {
      server = await this.ownership(principal, serverId);
    } catch (error) {
      if ((error as DomainError).code !== 'NOT_FOUND' && seesEveryServer(principal)) return;
      throw error;
    }
    if (!canSeeServer(principal, server)) throw new ForbiddenError('You may not see this server');
  }

  /** Makes sure `principal` may do `action` to the server (contracts' canControlServer); never guesses when the owner cannot be looked up. */
  async authorizeControl(principal: Principal, serverId: string, action: ServerAction): Promise<void> {
    const server = await this.ownership(principal, serverId);
    if (!canSeeServer(principal, server)) throw new ForbiddenError('You may not see this server');
    const missing = missingToControlServer(principal, server, action);
    if (missing.length > 0) throw new ForbiddenError('Only the owner, a sub-user granted this, or someone with servers.manage may do this to the server', { missing });
  }

  /**
   * Whether the server runs on `nodeId`: true or false when known, undefined while unknown (a
   * lookup is then started in the background, so a later sample gets an answer). Telemetry
   * samples of a server from any other node are forged and dropped.
   */
  placedOn(serverId: string, nodeId: string): boolean | undefined {
    const known = this.servers.get(serverId);
    if (known) return known.nodeId === nodeId;
    const unknownSince = this.unknown.get(serverId);
    if (unknownSince !== undefined && Date.now() - unknownSince < UNKNOWN_TTL_MS) return false;
    if (!this.resolving.has(serverId) && this.resolving.size < 100) {
      this.resolving.add(serverId);
      void this.lookup(serverId, 'service:gateway')
        .catch((error) => {
          if ((error as DomainError).code === 'NOT_FOUND') this.rememberUnknown(serverId);
        })
        .finally(() => this.resolving.delete(serverId));
    }
    return undefined;
  }

  /** Keeps the cache current from the event log. */
  observe(serverId: string, event: CloudEvent): void {
    if (event.type === 'server.created') {
      const { owner_id: owner, node_id: nodeId } = event.data as { owner_id?: unknown; node_id?: unknown };
      if (typeof owner === 'string' && typeof nodeId === 'string') this.remember(serverId, { owner, nodeId, subusers: [] });
      this.unknown.delete(serverId);
    } else if (event.type === 'server.deleted') {
      this.servers.delete(serverId);
    } else if (event.type === 'server.subuser_added' || event.type === 'server.subuser_changed' || event.type === 'server.subuser_removed') {
      const known = this.servers.get(serverId);
      const { user_id: userId, permissions } = event.data as { user_id?: unknown; permissions?: unknown };
      if (!known || typeof userId !== 'string') return;
      const others = known.subusers.filter((s) => s.user_id !== userId);
      known.subusers = event.type === 'server.subuser_removed' || !Array.isArray(permissions) ? others : [...others, { user_id: userId, permissions: permissions as SubuserPermission[] }];
    }
  }

  /** Whether a principal sees a server: `servers.read`, or owning it or being its sub-user (as far as this instance knows). */
  sees(principal: Principal, serverId: string): boolean {
    const known = this.servers.get(serverId);
    return seesEveryServer(principal) || (known !== undefined && canSeeServer(principal, ownership(known)));
  }

  /** Whether a principal gets the server's `action` stream (console lines, backup progress): contracts' canWatchServer, without I/O. */
  watches(principal: Principal, serverId: string, action: SubuserPermission): boolean {
    const known = this.servers.get(serverId);
    return known !== undefined ? canWatchServer(principal, ownership(known), action) : seesEveryServer(principal) && canWatchServer(principal, { owner_id: '' }, action);
  }

  private async lookup(serverId: string, actor: string, fresh = false): Promise<Placement> {
    const known = this.servers.get(serverId);
    if (known && !fresh) return known;
    try {
      const server = await this.commands.send<ServerView>('nodes', 'get_server', { id: serverId }, { actor }, { timeoutMs: 3000 });
      const placement: Placement = { owner: server.owner_id, nodeId: server.node_id, subusers: server.subusers ?? [] };
      this.remember(serverId, placement);
      return placement;
    } catch (error) {
      const code = (error as DomainError).code;
      // get_server validates the id as a UUID: a malformed id is a server that does not exist.
      if (code === 'NOT_FOUND' || code === 'VALIDATION_FAILED') throw new NotFoundError('Server', serverId);
      throw error;
    }
  }

  private rememberUnknown(serverId: string): void {
    if (this.unknown.size >= CACHE_LIMIT) this.unknown.clear();
    this.unknown.set(serverId, Date.now());
  }

  private remember(serverId: string, placement: Placement): void {
    if (this.servers.size >= CACHE_LIMIT) {
      // Oldest first (Map keeps insertion order); a tenth at a time so eviction stays rare.
      let evict = CACHE_LIMIT / 10;
      for (const id of this.servers.keys()) {
        if (evict <= 0) break;
        if (this.inUse(id)) continue;
        this.servers.delete(id);
        evict--;
      }
    }
    this.servers.set(serverId, placement);
  }
}
