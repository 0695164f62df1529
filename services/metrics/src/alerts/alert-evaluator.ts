import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { breaches, type AlertComparator, type MetricsField } from '@encedeus/contracts';
import type { CommandHandler, CommandMeta } from '@encedeus/messaging';
import { alertRuleDecider } from '../domain/alert-rule.decider';
import { SCHEMA } from '../storage/metrics-store';
import { SAMPLE_FIELDS, type Sample } from '../storage/samples';

interface Rule {
  id: string;
  target: string;
  node_id: string | null;
  field: MetricsField;
  comparator: AlertComparator;
  threshold: number;
  for_s: number;
  firing: boolean;
}

/** How long the evaluator uses the rules it read before reading them again. */
const RULES_TTL_MS = 1000;
const EVALUATOR: CommandMeta = { actor: 'service:metrics' };

/**
 * Evaluates alert rules on the samples the ingest writes (the replica that ingests evaluates), in
 * stream order: a breach that lasts `for_s` raises the rule, the next sample that does not breach
 * resolves it. A node rule counts the node's own samples; a server rule only the samples of the node
 * the server is placed on. Breach starts are kept in memory: after a restart a breach is timed again.
 */
export class AlertEvaluator {
  private readonly logger = new Logger('AlertEvaluator');
  private rules: Rule[] = [];
  private readAt = 0;
  private readonly breachSince = new Map<string, number>();

  constructor(
    private readonly db: DataSource,
    private readonly kernel: CommandHandler,
  ) {}

  async evaluate(samples: Sample[]): Promise<void> {
    await this.refresh();
    if (this.rules.length === 0) return;
    const byTarget = new Map<string, Rule[]>();
    for (const rule of this.rules) byTarget.set(rule.target, [...(byTarget.get(rule.target) ?? []), rule]);
    for (const sample of samples) {
      for (const rule of byTarget.get(sample.series) ?? []) {
        const sender = rule.target.startsWith('node:') ? rule.target.slice(5) : rule.node_id;
        if (sample.nodeId !== sender) continue;
        const value = sample.values[SAMPLE_FIELDS.indexOf(rule.field)];
        if (value === null || value === undefined) continue;
        await this.step(rule, value, sample.t).catch((error) => this.logger.warn(`alert rule ${rule.id}: ${(error as Error).message}`));
      }
    }
  }

  private async step(rule: Rule, value: number, t: number): Promise<void> {
    const at = new Date(t).toISOString();
    if (!breaches(value, rule.comparator, rule.threshold)) {
      this.breachSince.delete(rule.id);
      if (rule.firing) {
        rule.firing = false;
        await this.kernel.handle('alert', rule.id, alertRuleDecider, { type: 'resolve', id: rule.id, value, at }, EVALUATOR, { conflictRetries: 3 });
      }
      return;
    }
    const since = this.breachSince.get(rule.id) ?? t;
    this.breachSince.set(rule.id, since);
    if (!rule.firing && t - since >= rule.for_s * 1000) {
      rule.firing = true;
      await this.kernel.handle('alert', rule.id, alertRuleDecider, { type: 'raise', id: rule.id, value, at }, EVALUATOR, { conflictRetries: 3 });
    }
  }

  private async refresh(): Promise<void> {
    if (Date.now() - this.readAt < RULES_TTL_MS) return;
    const rows: Record<string, unknown>[] = await this.db.query(`select id, target, node_id, field, comparator, threshold, for_s, firing from ${SCHEMA}.alert_rules`).catch(() => []);
    this.rules = rows.map((r) => ({
      id: String(r.id),
      target: String(r.target),
      node_id: (r.node_id as string | null) ?? null,
      field: r.field as MetricsField,
      comparator: r.comparator as AlertComparator,
      threshold: Number(r.threshold),
      for_s: Number(r.for_s),
      firing: Boolean(r.firing),
    }));
    this.readAt = Date.now();
  }
}
