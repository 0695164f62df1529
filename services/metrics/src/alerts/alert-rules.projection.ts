import type { EntityManager } from 'typeorm';
import { AlertRaised, AlertResolved, AlertRuleCreated, AlertRuleDeleted, AlertRuleUpdated, type RecordedEvent } from '@encedeus/contracts';
import type { Projection } from '@encedeus/messaging';
import { SCHEMA } from '../storage/metrics-store';

/** Read model of alert rules (`metrics.alert_rules`) from `evt.alert.>`. */
export class AlertRulesProjection implements Projection {
  readonly name = 'metrics_alert_rules';
  readonly filterSubject = 'evt.alert.>';
  readonly schema = SCHEMA;
  readonly tables = [`${SCHEMA}.alert_rules`];

  async migrate(em: EntityManager): Promise<void> {
    await em.query(`create table if not exists ${SCHEMA}.alert_rules (
      id text primary key, name text not null, target text not null, node_id text, field text not null, comparator text not null,
      threshold float8 not null, for_s int not null, firing boolean not null default false, raised_at timestamptz,
      version int not null, created_at timestamptz not null)`);
  }

  async apply(em: EntityManager, events: RecordedEvent[]): Promise<void> {
    for (const { event } of events) {
      const id = event.subject.split('/')[1];
      const d = event.data as Record<string, any>;
      switch (event.type) {
        case AlertRuleCreated.type:
          await em.query(
            `insert into ${SCHEMA}.alert_rules (id, name, target, node_id, field, comparator, threshold, for_s, version, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             on conflict (id) do nothing`,
            [id, d.name, d.target, d.node_id ?? null, d.field, d.comparator, d.threshold, d.for_s, event.aggregateversion, event.time],
          );
          break;
        case AlertRuleUpdated.type: {
          const columns = ['name', 'target', 'node_id', 'field', 'comparator', 'threshold', 'for_s'].filter((c) => c in d);
          await em.query(
            `update ${SCHEMA}.alert_rules set ${[...columns.map((c, i) => `${c} = $${i + 3}`), 'version = $2'].join(', ')} where id = $1`,
            [id, event.aggregateversion, ...columns.map((c) => d[c])],
          );
          break;
        }
        case AlertRuleDeleted.type:
          await em.query(`delete from ${SCHEMA}.alert_rules where id = $1`, [id]);
          break;
        case AlertRaised.type:
          await em.query(`update ${SCHEMA}.alert_rules set firing = true, raised_at = $2, version = $3 where id = $1`, [id, d.at, event.aggregateversion]);
          break;
        case AlertResolved.type:
          await em.query(`update ${SCHEMA}.alert_rules set firing = false, version = $2 where id = $1`, [id, event.aggregateversion]);
          break;
      }
    }
  }
}
