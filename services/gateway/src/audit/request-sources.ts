import { Injectable, Logger, type CallHandler, type ExecutionContext, type NestInterceptor, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Observable } from 'rxjs';
import { DataSource } from 'typeorm';
import { migrateSchema } from '@encedeus/messaging';
import { GATEWAY_SCHEMA } from './audit.projection';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** A user agent is kept to this many characters. */
export const USER_AGENT_MAX = 512;

/**
 * Where each change came from, for the audit log (issue 14): the client address and user agent of
 * every REST request that changed something, by request id, which is the correlation id of the
 * events it caused. Kept beside the audit log, not in the events: an address is personal data that
 * an immutable stream should not hold. Not a projection (a rebuild of the audit log keeps it).
 * Written in batches off the request's path: a row may land a fraction of a second after the answer.
 */
@Injectable()
export class RequestSources implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('RequestSources');
  private pending: { id: string; ip: string | null; ua: string | null; at: Date }[] = [];
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private ready = false;

  constructor(private readonly db: DataSource) {}

  async onModuleInit(): Promise<void> {
    await migrateSchema(this.db, GATEWAY_SCHEMA, async (em) => {
      await em.query(`create table if not exists ${GATEWAY_SCHEMA}.request_sources (correlation_id text primary key, ip text, user_agent text, at timestamptz not null)`);
      await em.query(`create index if not exists request_sources_at on ${GATEWAY_SCHEMA}.request_sources (at)`);
    });
    this.ready = true;
  }

  async onModuleDestroy(): Promise<void> {
    await this.flush();
  }

  record(correlationId: string, ip: string | undefined, userAgent: string | undefined): void {
    if (!this.ready || !correlationId) return;
    this.pending.push({ id: correlationId.slice(0, 100), ip: ip ? ip.slice(0, 64) : null, ua: userAgent ? userAgent.slice(0, USER_AGENT_MAX) : null, at: new Date() });
    if (this.pending.length >= 500) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), 200);
  }

  /** Writes what is pending (after any write in progress). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const rows = this.pending;
    this.pending = [];
    if (rows.length === 0) return this.writing;
    this.writing = this.writing.then(() =>
      this.db
        .query(
          `insert into ${GATEWAY_SCHEMA}.request_sources (correlation_id, ip, user_agent, at) select * from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) on conflict do nothing`,
          [rows.map((r) => r.id), rows.map((r) => r.ip), rows.map((r) => r.ua), rows.map((r) => r.at.toISOString())],
        )
        .then(() => undefined)
        .catch((error: unknown) => this.logger.warn(`could not record ${rows.length} request sources: ${(error as Error).message}`)),
    );
    return this.writing;
  }
}

/** Records the address and user agent of every REST request that changed something (status below 400). */
@Injectable()
export class RequestSourceInterceptor implements NestInterceptor {
  constructor(private readonly sources: RequestSources) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const req = context.switchToHttp().getRequest<Request & { id?: unknown }>();
      const res = context.switchToHttp().getResponse<Response>();
      if (MUTATING.has(req.method)) {
        res.once('finish', () => {
          if (res.statusCode < 400) this.sources.record(String(req.id ?? ''), req.ip, typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : undefined);
        });
      }
    }
    return next.handle();
  }
}
