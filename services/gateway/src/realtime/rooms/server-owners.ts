import { Injectable } from '@nestjs/common';
import { CommandClient } from '@encedeus/messaging';
import { DomainError, ForbiddenError, NotFoundError, type CloudEvent, type ServerView } from '@encedeus/contracts';
import type { Principal } from '@encedeus/security';

const CACHE_LIMIT = 100_000;

/**
 * Owner of each server, asked of the nodes service (`cmd.nodes.get_server`) once and then kept
 * current from `server.created` / `server.deleted` events. An owner never changes, so an entry
 * is only ever removed, never stale.
 */
@Injectable()
export class ServerOwners {
  private readonly owners = new Map<string, string>();

  /** Whether a server's room has members here; their owners are never evicted, so the per-message check keeps working. */
  inUse: (serverId: string) => boolean = () => false;

  constructor(private readonly commands: CommandClient) {}

  /** The owner if known, without I/O (the per-message check). */
  peek(serverId: string): string | undefined {
    return this.owners.get(serverId);
  }

  /**
   * Makes sure `principal` may see the server, looking the owner up when unknown.
   * Throws NotFoundError for an unknown server and ForbiddenError for someone else's; when the
   * nodes service is down, `servers.read` still lets the caller in.
   */
  async authorize(principal: Principal, serverId: string): Promise<void> {
    let owner = this.owners.get(serverId);
    if (owner === undefined) {
      try {
        const server = await this.commands.send<ServerView>('nodes', 'get_server', { id: serverId }, { actor: principal.actor }, { timeoutMs: 3000 });
        owner = server.owner_id;
        this.remember(serverId, owner);
      } catch (error) {
        const code = (error as DomainError).code;
        // get_server validates the id as a UUID: a malformed id is a server that does not exist.
        if (code === 'NOT_FOUND' || code === 'VALIDATION_FAILED') throw new NotFoundError('Server', serverId);
        if (principal.permissions.has('servers.read')) return;
        throw error;
      }
    }
    if (!principal.permissions.has('servers.read') && owner !== principal.userId) throw new ForbiddenError('You may not see this server');
  }

  /** Keeps the cache current from the event log. */
  observe(serverId: string, event: CloudEvent): void {
    if (event.type === 'server.created') {
      const owner = (event.data as { owner_id?: unknown }).owner_id;
      if (typeof owner === 'string') this.remember(serverId, owner);
    } else if (event.type === 'server.deleted') {
      this.owners.delete(serverId);
    }
  }

  /** Whether a principal sees a server: `servers.read`, or owning it (as far as this instance knows). */
  sees(principal: Principal, serverId: string): boolean {
    return principal.permissions.has('servers.read') || this.owners.get(serverId) === principal.userId;
  }

  private remember(serverId: string, owner: string): void {
    if (this.owners.size >= CACHE_LIMIT) {
      // Oldest first (Map keeps insertion order); a tenth at a time so eviction stays rare.
      let evict = CACHE_LIMIT / 10;
      for (const id of this.owners.keys()) {
        if (evict <= 0) break;
        if (this.inUse(id)) continue;
        this.owners.delete(id);
        evict--;
      }
    }
    this.owners.set(serverId, owner);
  }
}
