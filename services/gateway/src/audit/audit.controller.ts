import { Controller, Get, Query, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { createZodDto } from 'nestjs-zod';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { text, ValidationError } from '@encedeus/contracts';
import type { Page } from '@encedeus/contracts';
import { CurrentPrincipal, RequirePermission, type Principal } from '@encedeus/security';
import { GATEWAY_SCHEMA } from './audit.projection';
import { SubjectNames, type Names } from './subject-names';

const filters = {
  actor: text().max(200).optional().describe('e.g. user:<uuid>'),
  action: text().max(100).optional().describe('event type, e.g. user.created'),
  subject: text().max(200).optional().describe('e.g. user/<uuid>'),
  aggregate: text().max(50).optional(),
  from: z.iso.datetime({ offset: true }).optional().describe('entries at or after this time (ISO 8601)'),
  to: z.iso.datetime({ offset: true }).optional().describe('entries before this time (ISO 8601)'),
};
const auditQuery = z.object({
  ...filters,
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: text().regex(/^\d{1,15}$/).optional().describe('nextCursor of the previous page (a stream sequence)'),
});
class AuditQuery extends createZodDto(auditQuery) {}
class AuditExportQuery extends createZodDto(z.object(filters)) {}

/** Audit rows with where each came from: gateway.request_sources by correlation id (see RequestSources), else the address the event names (sign-ins). */
const AUDIT_SELECT = `select a.sequence, a.time, a.actor, a.action, a.subject, a.correlation_id, coalesce(s.ip, a.ip) as ip, s.user_agent from ${GATEWAY_SCHEMA}.audit_log a left join ${GATEWAY_SCHEMA}.request_sources s on s.correlation_id = a.correlation_id`;

/** Rows one CSV export holds at most; narrow the range for more. */
export const AUDIT_EXPORT_MAX_ROWS = 100_000;

export interface AuditEntry {
  sequence: number;
  time: string;
  actor: string;
  /** The actor's name where it is a user, an API key's owner or a node's agent; absent otherwise. */
  actorName?: string;
  action: string;
  subject: string;
  /** The subject's name where it is a user, role, server, node or template the caller may see (SubjectNames); absent otherwise. */
  subjectName?: string;
  correlationId: string | null;
  /** Client address of the REST request that caused it (behind GATEWAY_TRUSTED_PROXIES: the forwarded one); null for changes made on the bus or by the system. */
  ip: string | null;
  /** User agent of that request (at most 512 characters); null where there was none. */
  userAgent: string | null;
}

interface AuditRow {
  sequence: string;
  time: Date;
  actor: string;
  action: string;
  subject: string;
  correlation_id: string | null;
  ip: string | null;
  user_agent: string | null;
}

/** A CSV cell: quoted, and a leading = + - @ made inert so a spreadsheet never runs it as a formula. */
export function csvCell(value: string | number | null | undefined): string {
  let s = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return `"${s.replace(/"/g, '""')}"`;
}

/** `GET /api/v1/audit`: newest first, filterable by actor, action, subject, aggregate and time; names beside ids; CSV export. */
@ApiTags('events')
@Controller('audit')
export class AuditController {
  constructor(
    private readonly dataSource: DataSource,
    private readonly names: SubjectNames,
  ) {}

  @RequirePermission('audit.read')
  @Get()
  async list(@Query() query: AuditQuery, @CurrentPrincipal() p: Principal): Promise<Page<AuditEntry>> {
    const { where, params } = this.filter(query);
    if (query.cursor) where.push(`sequence < $${params.push(Number(query.cursor))}`);
    params.push(query.limit);
    const rows: AuditRow[] = await this.dataSource.query(
      `${AUDIT_SELECT} ${where.length ? `where ${where.join(' and ')}` : ''} order by sequence desc limit $${params.length}`,
      params,
    );
    const names = await this.namesOf(rows, p);
    const items = rows.map((r) => this.entry(r, names));
    return { items, nextCursor: items.length === query.limit ? String(items[items.length - 1].sequence) : null };
  }

  /** The same entries as CSV (newest first, at most AUDIT_EXPORT_MAX_ROWS), streamed page by page. */
  @RequirePermission('audit.read')
  @Get('export')
  async export(@Query() query: AuditExportQuery, @CurrentPrincipal() principal: Principal, @Res() res: Response): Promise<void> {
    const { where, params } = this.filter(query);
    res.setHeader('Content-Type', 'text/csv; charset=utf-8');
    res.setHeader('Content-Disposition', 'attachment; filename="audit.csv"');
    res.write('sequence,time,actor,actor_name,action,subject,subject_name,correlation_id,ip,user_agent\r\n');
    let before: number | undefined;
    let written = 0;
    while (written < AUDIT_EXPORT_MAX_ROWS) {
      const page = Math.min(5_000, AUDIT_EXPORT_MAX_ROWS - written);
      const p = [...params];
      const w = [...where];
      if (before !== undefined) w.push(`sequence < $${p.push(before)}`);
      p.push(page);
      const rows: AuditRow[] = await this.dataSource.query(
        `${AUDIT_SELECT} ${w.length ? `where ${w.join(' and ')}` : ''} order by sequence desc limit $${p.length}`,
        p,
      );
      if (rows.length === 0) break;
      const names = await this.namesOf(rows, principal);
      const lines = rows.map((r) => {
        const e = this.entry(r, names);
        return [e.sequence, e.time, e.actor, e.actorName, e.action, e.subject, e.subjectName, e.correlationId, e.ip, e.userAgent].map(csvCell).join(',');
      });
      if (!res.write(lines.join('\r\n') + '\r\n')) await new Promise((resolve) => res.once('drain', resolve));
      if (res.destroyed) return;
      written += rows.length;
      before = Number(rows[rows.length - 1].sequence);
      if (rows.length < page) break;
    }
    res.end();
  }

  private filter(query: z.infer<z.ZodObject<typeof filters>>): { where: string[]; params: unknown[] } {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => where.push(sql.replace('?', `$${params.push(value)}`));
    if (query.actor) add('actor = ?', query.actor);
    if (query.action) add('action = ?', query.action);
    if (query.subject) add('subject = ?', query.subject);
    if (query.aggregate) add('aggregate = ?', query.aggregate);
    if (query.from) add('time >= ?', query.from);
    if (query.to) add('time < ?', query.to);
    if (query.from && query.to && Date.parse(query.from) > Date.parse(query.to)) {
      throw new ValidationError('from is after to', [{ path: 'from', message: 'must not be after to' }]);
    }
    return { where, params };
  }

  /** One lookup of every name a page of rows shows, as far as the caller may see them. */
  private namesOf(rows: AuditRow[], p: Principal): Promise<Names> {
    return this.names.resolve(p, rows.map((r) => r.subject), rows.map((r) => r.actor));
  }

  private entry(r: AuditRow, names: Names): AuditEntry {
    const actorName = names.actor(r.actor);
    const subjectName = names.subject(r.subject);
    return {
      sequence: Number(r.sequence),
      time: new Date(r.time).toISOString(),
      actor: r.actor,
      ...(actorName ? { actorName } : {}),
      action: r.action,
      subject: r.subject,
      ...(subjectName ? { subjectName } : {}),
      correlationId: r.correlation_id,
      ip: r.ip ?? null,
      userAgent: r.user_agent ?? null,
    };
  }
}
