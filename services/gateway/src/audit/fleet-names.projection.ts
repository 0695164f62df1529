import type { EntityManager } from 'typeorm';
import type { RecordedEvent } from '@encedeus/contracts';
import type { Projection } from '@encedeus/messaging';
import { GATEWAY_SCHEMA } from './audit.projection';

export const FLEET_NAMES = `${GATEWAY_SCHEMA}.fleet_names`;

/** Events that give a server, node or template its name (a rename included). */
const NAMING = new Set(['server.created', 'server.updated', 'node.created', 'node.updated', 'template.created', 'template.updated']);

/**
 * The last name each server, node and template had (`gateway.fleet_names`, by subject such as
 * `server/<id>`), kept after it is deleted: the audit log and the event feed name deleted
 * aggregates with it (SubjectNames), which the fleet's read model no longer holds. A server's row
 * keeps its owner, the only one besides those who see every server who may learn its old name.
 */
export class FleetNamesProjection implements Projection {
  readonly name = 'gateway_fleet_names';
  // nats-server 2.9 has one filter per consumer; events that name nothing are skipped by type.
  readonly filterSubject = 'evt.>';
  readonly schema = GATEWAY_SCHEMA;
  readonly tables = [FLEET_NAMES];

  async migrate(em: EntityManager): Promise<void> {
    await em.query(`create table if not exists ${FLEET_NAMES} (subject text primary key, name text not null, owner_id text)`);
  }

  async apply(em: EntityManager, events: RecordedEvent[]): Promise<void> {
    // The last name of each subject in the batch wins; one upsert for the batch.
    const latest = new Map<string, { name: string; owner: string | null }>();
    for (const { event } of events) {
      if (!NAMING.has(event.type)) continue;
      const data = (event.data ?? {}) as { name?: unknown; owner_id?: unknown };
      if (typeof data.name !== 'string') continue;
      const owner = typeof data.owner_id === 'string' ? data.owner_id : (latest.get(event.subject)?.owner ?? null);
      latest.set(event.subject, { name: data.name, owner });
    }
    if (latest.size === 0) return;
    const subjects = [...latest.keys()];
    await em.query(
      `insert into ${FLEET_NAMES} (subject, name, owner_id)
         select * from unnest($1::text[], $2::text[], $3::text[])
       on conflict (subject) do update set name = excluded.name, owner_id = coalesce(excluded.owner_id, ${FLEET_NAMES}.owner_id)`,
      [subjects, subjects.map((s) => latest.get(s)!.name), subjects.map((s) => latest.get(s)!.owner)],
    );
  }
}
