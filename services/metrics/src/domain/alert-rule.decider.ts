import {
  AlertRaised,
  AlertResolved,
  AlertRuleCreated,
  AlertRuleDeleted,
  AlertRuleUpdated,
  ConflictError,
  event,
  NotFoundError,
  type AlertComparator,
  type CloudEvent,
  type CreateAlertRule,
  type NewEvent,
  type UpdateAlertRule,
} from '@encedeus/contracts';
import type { Decider } from '@encedeus/messaging';

/** One alert rule (aggregate `alert`, id = the rule's id). */
export interface AlertRuleState {
  exists: boolean;
  deleted: boolean;
  name: string;
  target: string;
  field: string;
  comparator: AlertComparator;
  threshold: number;
  for_s: number;
  firing: boolean;
}

export type AlertRuleCommand =
  | { type: 'create'; id: string; rule: CreateAlertRule }
  | { type: 'update'; id: string; changes: UpdateAlertRule; at: string }
  | { type: 'delete'; id: string; at: string }
  /** The evaluator saw the breach last `for_s`; `value` is the last breaching sample. */
  | { type: 'raise'; id: string; value: number; at: string }
  /** The evaluator saw a sample that does not breach. */
  | { type: 'resolve'; id: string; value: number | null; at: string };

export const initialAlertRule = (): AlertRuleState => ({ exists: false, deleted: false, name: '', target: '', field: '', comparator: '>', threshold: 0, for_s: 0, firing: false });

export function evolveAlertRule(state: AlertRuleState, e: Pick<CloudEvent, 'type' | 'data'>): AlertRuleState {
  const d = e.data as Record<string, unknown>;
  switch (e.type) {
    case AlertRuleCreated.type:
      return { ...state, exists: true, ...(d as object) } as AlertRuleState;
    case AlertRuleUpdated.type:
      return { ...state, ...(d as object) } as AlertRuleState;
    case AlertRuleDeleted.type:
      return { ...state, deleted: true, firing: false };
    case AlertRaised.type:
      return { ...state, firing: true };
    case AlertResolved.type:
      return { ...state, firing: false };
    default:
      return state;
  }
}

/**
 * Rules are created once, changed and deleted while they exist; a change of a firing rule's
 * condition resolves it first (the next samples decide again). Raise only what does not fire,
 * resolve only what fires: repeated evaluations are [].
 */
export function decideAlertRule(cmd: AlertRuleCommand, s: AlertRuleState): NewEvent[] {
  const gone = !s.exists || s.deleted;
  const resolved = (value: number | null, at: string) => event(AlertResolved, { rule_id: cmd.id, name: s.name, target: s.target, field: s.field, value, at });
  switch (cmd.type) {
    case 'create':
      if (s.exists) throw new ConflictError(`Alert rule ${cmd.id} exists`);
      return [event(AlertRuleCreated, cmd.rule)];
    case 'update': {
      if (gone) throw new NotFoundError('Alert rule', cmd.id);
      const changesCondition = ['target', 'field', 'comparator', 'threshold', 'for_s'].some((k) => k in cmd.changes);
      return [...(s.firing && changesCondition ? [resolved(null, cmd.at)] : []), event(AlertRuleUpdated, cmd.changes)];
    }
    case 'delete':
      if (gone) throw new NotFoundError('Alert rule', cmd.id);
      return [...(s.firing ? [resolved(null, cmd.at)] : []), event(AlertRuleDeleted, {})];
    case 'raise':
      if (gone || s.firing) return [];
      return [event(AlertRaised, { rule_id: cmd.id, name: s.name, target: s.target, field: s.field, comparator: s.comparator, threshold: s.threshold, value: cmd.value, at: cmd.at })];
    case 'resolve':
      return gone || !s.firing ? [] : [resolved(cmd.value, cmd.at)];
  }
}

export const alertRuleDecider: Decider<AlertRuleState, AlertRuleCommand> = {
  name: 'alert_rule.v1',
  initialState: initialAlertRule,
  evolve: evolveAlertRule,
  decide: decideAlertRule,
};
