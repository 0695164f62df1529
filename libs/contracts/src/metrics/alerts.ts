import { z } from 'zod';
import { defineEvent } from '../events/registry';
import { text } from '../text';
import { METRICS_FIELDS, metricsTargetSchema } from './metrics';

/*
 * Alert rules (issue 12): a rule watches one field of one target's samples as the metrics service
 * ingests them; breaching for `for_s` seconds raises it (`alert.raised`), the next sample that does
 * not breach resolves it (`alert.resolved`). Aggregate `alert`, one per rule (`evt.alert.<ruleId>`).
 */

export const ALERT_COMPARATORS = ['>', '>=', '<', '<='] as const;
export type AlertComparator = (typeof ALERT_COMPARATORS)[number];

/** Whether `value` breaches `threshold` under `comparator`. */
export function breaches(value: number, comparator: AlertComparator, threshold: number): boolean {
  switch (comparator) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

const ruleFields = {
  name: text().min(1).max(100),
  target: metricsTargetSchema.refine((t) => t !== 'fleet', { message: 'must be node:<uuid> or server:<uuid>' }),
  field: z.enum(METRICS_FIELDS),
  comparator: z.enum(ALERT_COMPARATORS),
  threshold: z.number().finite(),
  /** How long the breach must last before the alert is raised. */
  for_s: z.number().int().min(0).max(86_400),
};

/** `POST /alerts/rules` */
export const createAlertRuleSchema = z.object({ ...ruleFields, for_s: ruleFields.for_s.default(0) });
/**
 * `PATCH /alerts/rules/:id`: only the fields sent. No defaults here: zod 4 fills a default inside
 * `.partial()`, so a default would reset `for_s` on every PATCH that leaves it out.
 */
export const updateAlertRuleSchema = z.object(ruleFields).partial().refine((v) => Object.keys(v).length > 0, { message: 'nothing to change' });
export type CreateAlertRule = z.infer<typeof createAlertRuleSchema>;
export type UpdateAlertRule = z.infer<typeof updateAlertRuleSchema>;

/** A rule as REST answers it. */
export interface AlertRuleView {
  id: string;
  name: string;
  target: string;
  /** The name of the target's server or node, set by the gateway when the caller may see it; absent otherwise (deleted, or hidden from the caller). */
  target_name?: string;
  field: (typeof METRICS_FIELDS)[number];
  comparator: AlertComparator;
  threshold: number;
  for_s: number;
  /** Raised and not resolved yet. */
  firing: boolean;
  /** When it was last raised, ISO 8601. */
  raised_at: string | null;
  version: number;
  createdAt: string;
}

/** `node_id`: for a server target, the node it is placed on (only that node's samples count), set by the gateway. */
const ruleData = z.object({ name: text(), target: text(), field: text(), comparator: text(), threshold: z.number(), for_s: z.number().int(), node_id: text().optional() });

export const AlertRuleCreated = defineEvent('alert.rule_created', ruleData, 'An alert rule was created');
export const AlertRuleUpdated = defineEvent('alert.rule_updated', ruleData.partial(), 'An alert rule was changed');
export const AlertRuleDeleted = defineEvent('alert.rule_deleted', z.object({}), 'An alert rule was deleted (a firing alert is resolved first)');
export const AlertRaised = defineEvent(
  'alert.raised',
  z.object({ rule_id: text(), name: text(), target: text(), field: text(), comparator: text(), threshold: z.number(), value: z.number(), at: text() }),
  'A target breached an alert rule for its whole for-duration',
);
export const AlertResolved = defineEvent(
  'alert.resolved',
  z.object({ rule_id: text(), name: text(), target: text(), field: text(), value: z.number().nullable(), at: text() }),
  'A raised alert no longer breaches (or its rule changed or was deleted)',
);

/** Verbs of the metrics service for alert rules (`cmd.metrics.<verb>`). */
export const AlertVerbs = {
  create: 'create_alert_rule',
  update: 'update_alert_rule',
  delete: 'delete_alert_rule',
  get: 'get_alert_rule',
  list: 'list_alert_rules',
} as const;
