import { Controller, Get, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { text } from '@encedeus/contracts';
import type { Page } from '@encedeus/contracts';
import { RequirePermission } from '@encedeus/security';
import { GATEWAY_SCHEMA } from './audit.projection';

const auditQuery = z.object({
  actor: text().max(200).optional().describe('e.g. user:<uuid>'),
  action: text().max(100).optional().describe('event type, e.g. user.created'),
  subject: text().max(200).optional().describe('e.g. user/<uuid>'),
  aggregate: text().max(50).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: text().regex(/^\d{1,15}$/).optional().describe('nextCursor of the previous page (a stream sequence)'),
});
class AuditQuery extends createZodDto(auditQuery) {}

export interface AuditEntry {
  sequence: number;
  time: string;
  actor: string;
  action: string;
  subject: string;
  correlationId: string | null;
}

/** `GET /api/v1/audit`: newest first, filterable by actor, action, subject or aggregate. */
@ApiTags('events')
@Controller('audit')
export class AuditController {
  constructor(private readonly dataSource: DataSource) {}

  @RequirePermission('audit.read')
  @Get()
  async list(@Query() query: AuditQuery): Promise<Page<AuditEntry>> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => { params.push(value); where.push(sql.replace('?', `$${params.length}`)); };
    if (query.actor) add('actor = ?', query.actor);
    if (query.action) add('action = ?', query.action);
    if (query.subject) add('subject = ?', query.subject);
    if (query.aggregate) add('aggregate = ?', query.aggregate);
    if (query.cursor) add('sequence < ?', Number(query.cursor));
    params.push(query.limit);
    const rows: { sequence: string; time: Date; actor: string; action: string; subject: string; correlation_id: string | null }[] = await this.dataSource.query(
      `select sequence, time, actor, action, subject, correlation_id from ${GATEWAY_SCHEMA}.audit_log ${where.length ? `where ${where.join(' and ')}` : ''} order by sequence desc limit $${params.length}`,
      params,
    );
    const items = rows.map((r) => ({
      sequence: Number(r.sequence),
      time: new Date(r.time).toISOString(),
      actor: r.actor,
      action: r.action,
      subject: r.subject,
      correlationId: r.correlation_id,
    }));
    return { items, nextCursor: items.length === query.limit ? String(items[items.length - 1].sequence) : null };
  }
}
