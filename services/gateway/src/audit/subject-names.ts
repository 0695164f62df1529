import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { canSeeServer, seesEveryServer, type NodeView, type Page, type ServerView, type TemplateView } from '@encedeus/contracts';
import { CommandClient, type CommandMeta } from '@encedeus/messaging';
import { hasPermission, type Principal } from '@encedeus/security';
import { serverListFilter } from '../fleet/fleet-access';
import { IdentityProjection } from '../identity/identity.projection';
import { FLEET_NAMES } from './fleet-names.projection';

/** How long one ask of the nodes service may take; past it the page shows ids, never an error. */
const FLEET_ASK_MS = 3000;
/** Ids per ask (the nodes service's list limit). */
const CHUNK = 500;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The names one page of audit rows or events may show, looked up once for the whole page. */
export interface Names {
  /** The name of `server/<id>`, `node/<id>`, `template/<id>`, `user/<id>` or `role/<id>`, when the caller may know it. */
  subject(subject: string): string | undefined;
  /** The name behind `user:<id>`, `apikey:<id>` (its owner's) or `agent:<node id>` (its node's), when the caller may know it. */
  actor(actor: string): string | undefined;
}

type FleetKind = 'server' | 'node' | 'template';

/**
 * Names instead of ids for the audit log and the event feed (issue 14). Users, roles and API keys
 * come from the gateway's identity projection; servers, nodes and templates are asked of the nodes
 * service in one batch per kind, with the caller's own view of the fleet: servers through the same
 * filter as `GET /servers` and contracts' canSeeServer, nodes only with `nodes.read`, templates only
 * with `templates.read`. A deleted aggregate (the fleet's read model no longer holds it) is named
 * by the last name it had (FleetNamesProjection), under the same rule: a deleted node or template
 * with `nodes.read` / `templates.read`, a deleted server only for whoever sees every server or
 * owned it. A name the caller may not see stays an id.
 */
@Injectable()
export class SubjectNames {
  private readonly logger = new Logger('subject-names');

  constructor(
    @Optional() private readonly commands?: CommandClient,
    @Optional() @Inject(IdentityProjection) private readonly identity?: IdentityProjection,
    @Optional() private readonly dataSource?: DataSource,
  ) {}

  /** Looks up everything `subjects` and `actors` point at that `principal` may see. Never throws: an unanswered ask leaves ids. */
  async resolve(principal: Principal, subjects: Iterable<string>, actors: Iterable<string>): Promise<Names> {
    const meta: CommandMeta = { actor: principal.actor };
    const wanted: Record<FleetKind, Set<string>> = { server: new Set(), node: new Set(), template: new Set() };
    for (const subject of subjects) {
      const [kind, id] = subject.split('/');
      if ((kind === 'server' || kind === 'node' || kind === 'template') && UUID.test(id ?? '')) wanted[kind].add(id.toLowerCase());
    }
    for (const actor of actors) {
      const [kind, id] = actor.split(':');
      if (kind === 'agent' && UUID.test(id ?? '')) wanted.node.add(id.toLowerCase());
    }
    const mayList: Record<FleetKind, boolean> = {
      server: true,
      node: hasPermission(principal, 'nodes.read'),
      template: hasPermission(principal, 'templates.read'),
    };
    const fleet: Record<FleetKind, Map<string, string>> = { server: new Map(), node: new Map(), template: new Map() };
    await Promise.all(
      (Object.keys(wanted) as FleetKind[]).filter((k) => wanted[k].size > 0 && mayList[k]).map(async (kind) => (fleet[kind] = await this.fleetNames(kind, [...wanted[kind]], principal, meta))),
    );
    await this.formerNames(wanted, mayList, fleet, principal);
    return {
      subject: (subject) => {
        const [kind, id] = subject.split('/');
        if (!id) return undefined;
        if (kind === 'server' || kind === 'node' || kind === 'template') return fleet[kind].get(id.toLowerCase());
        if (kind === 'user') return this.identity?.users.get(id)?.name;
        if (kind === 'role') return this.identity?.roles.get(id)?.name;
        return undefined;
      },
      actor: (actor) => {
        const [kind, id] = actor.split(':');
        if (!id) return undefined;
        if (kind === 'user') return this.identity?.users.get(id)?.name;
        if (kind === 'apikey') {
          const owner = this.identity?.keys.get(id)?.ownerId;
          const name = owner ? this.identity?.users.get(owner)?.name : undefined;
          return name ? `API key of ${name}` : undefined;
        }
        if (kind === 'agent') {
          const node = fleet.node.get(id.toLowerCase());
          return node ? `agent of ${node}` : undefined;
        }
        return undefined;
      },
    };
  }

  /** Adds the last names of what the fleet did not answer for (deleted since), as far as the caller may know them. */
  private async formerNames(wanted: Record<FleetKind, Set<string>>, mayList: Record<FleetKind, boolean>, fleet: Record<FleetKind, Map<string, string>>, principal: Principal): Promise<void> {
    if (!this.dataSource) return;
    const missing = (Object.keys(wanted) as FleetKind[]).filter((k) => mayList[k]).flatMap((k) => [...wanted[k]].filter((id) => !fleet[k].has(id)).map((id) => `${k}/${id}`));
    if (missing.length === 0) return;
    try {
      const rows: { subject: string; name: string; owner_id: string | null }[] = await this.dataSource.query(`select subject, name, owner_id from ${FLEET_NAMES} where subject = any($1::text[])`, [missing]);
      for (const row of rows) {
        const [kind, id] = row.subject.split('/') as [FleetKind, string];
        // Nobody's membership of a deleted server is kept but its owner's: sub-users see its id.
        if (kind === 'server' && !seesEveryServer(principal) && row.owner_id !== principal.userId) continue;
        fleet[kind].set(id, row.name);
      }
    } catch (error) {
      this.logger.warn(`subject-names: names of deleted aggregates not looked up: ${(error as Error).message}`);
    }
  }

  private async fleetNames(kind: FleetKind, ids: string[], principal: Principal, meta: CommandMeta): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    if (!this.commands) return names;
    try {
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        if (kind === 'server') {
          // The list's member filter and canSeeServer are the two halves of GET /servers' rule; both apply.
          const page = await this.commands.send<Page<ServerView>>('nodes', 'list_servers', { ids: chunk, limit: CHUNK, ...serverListFilter(principal) }, meta, { timeoutMs: FLEET_ASK_MS });
          for (const s of page.items) if (canSeeServer(principal, s)) names.set(s.id, s.name);
        } else {
          const verb = kind === 'node' ? 'list_nodes' : 'list_templates';
          const page = await this.commands.send<Page<NodeView | TemplateView>>('nodes', verb, { ids: chunk, limit: CHUNK }, meta, { timeoutMs: FLEET_ASK_MS });
          for (const item of page.items) names.set(item.id, item.name);
        }
      }
    } catch (error) {
      // The audit log must stay readable while the nodes service is away: ids are shown instead.
      this.logger.warn(`subject-names: ${kind} names not looked up: ${(error as Error).message}`);
    }
    return names;
  }
}
