import type { CloudEvent, NewEvent } from '@encedeus/contracts';
import { decideAlertRule, evolveAlertRule, initialAlertRule } from './alert-rule.decider';

const id = 'r1';
const at = '2026-12-01T10:00:00.000Z';
const rule = { name: 'hot', target: 'server:6f1c2b1e-1111-4000-8000-000000000001', field: 'cpu_percent' as const, comparator: '>' as const, threshold: 80, for_s: 10 };
const fold = (events: NewEvent[]) => events.reduce((s, e) => evolveAlertRule(s, e as unknown as CloudEvent), initialAlertRule());
const created = decideAlertRule({ type: 'create', id, rule }, initialAlertRule());

describe('decideAlertRule', () => {
  it('creates a rule once', () => {
    expect(created.map((e) => e.type)).toEqual(['alert.rule_created']);
    expect(() => decideAlertRule({ type: 'create', id, rule }, fold(created))).toThrow(/exists/);
  });

  it('raises a quiet rule once, and resolves a firing one once', () => {
    const raised = decideAlertRule({ type: 'raise', id, value: 95, at }, fold(created));
    const firing = fold([...created, ...raised]);

    expect(raised).toEqual([{ type: 'alert.raised', data: { rule_id: id, name: 'hot', target: rule.target, field: 'cpu_percent', comparator: '>', threshold: 80, value: 95, at } }]);
    expect(decideAlertRule({ type: 'raise', id, value: 99, at }, firing)).toEqual([]);
    expect(decideAlertRule({ type: 'resolve', id, value: 3, at }, firing).map((e) => e.type)).toEqual(['alert.resolved']);
    expect(decideAlertRule({ type: 'resolve', id, value: 3, at }, fold(created))).toEqual([]);
  });

  it('resolves a firing rule whose condition changes or that is deleted', () => {
    const firing = [...created, ...decideAlertRule({ type: 'raise', id, value: 95, at }, fold(created))];

    expect(decideAlertRule({ type: 'update', id, changes: { threshold: 99 }, at }, fold(firing)).map((e) => e.type)).toEqual(['alert.resolved', 'alert.rule_updated']);
    expect(decideAlertRule({ type: 'update', id, changes: { name: 'renamed' }, at }, fold(firing)).map((e) => e.type)).toEqual(['alert.rule_updated']);
    expect(decideAlertRule({ type: 'delete', id, at }, fold(firing)).map((e) => e.type)).toEqual(['alert.resolved', 'alert.rule_deleted']);
  });

  it('refuses changes to a rule that does not exist or was deleted, and never raises it', () => {
    const deleted = fold([...created, ...decideAlertRule({ type: 'delete', id, at }, fold(created))]);

    expect(() => decideAlertRule({ type: 'update', id, changes: { threshold: 1 }, at }, initialAlertRule())).toThrow(/not found/);
    expect(() => decideAlertRule({ type: 'delete', id, at }, deleted)).toThrow(/not found/);
    expect(decideAlertRule({ type: 'raise', id, value: 100, at }, deleted)).toEqual([]);
  });
});
