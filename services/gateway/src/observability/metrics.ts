import { Controller, Get, Injectable, Res, type NestMiddleware } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { RequirePermission } from '@encedeus/security';

/** Prometheus registry of this gateway process. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry, prefix: 'encedeus_gateway_' });

const httpDuration = new Histogram({
  name: 'encedeus_http_request_duration_seconds',
  help: 'REST request duration by method, route and status',
  labelNames: ['method', 'route', 'status'],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [metricsRegistry],
});

let deadLetterSource: (() => Promise<Record<string, number>>) | undefined;

/** Sets where the dead-letter counter reads at scrape time (the health controller, which asks every service). */
export function reportDeadLettersFrom(source: () => Promise<Record<string, number>>): void {
  deadLetterSource = source;
}

// Parked rows are kept until an operator removes them, so their count only grows: a counter, read
// from the projections' tables at scrape time (services have no HTTP endpoint of their own).
new Counter({
  name: 'encedeus_projection_dead_letters_total',
  help: 'Events a projection could not apply and parked as dead letters, by projection',
  labelNames: ['projection'],
  registers: [metricsRegistry],
  async collect() {
    const counts = await deadLetterSource?.().catch(() => undefined);
    if (!counts) return;
    this.reset();
    for (const [projection, n] of Object.entries(counts)) this.inc({ projection }, n);
  },
});

/**
 * Times a request until its answer is sent, under `route` or else the matched route pattern, never
 * the raw path (cardinality). `cancel` drops the timing (a handler that hands the request on).
 */
export function timeHttpRequest(req: IncomingMessage & Partial<Pick<Request, 'route' | 'baseUrl'>>, res: ServerResponse, route?: string): { cancel(): void } {
  const end = httpDuration.startTimer();
  let cancelled = false;
  res.once('finish', () => {
    if (cancelled) return;
    end({ method: req.method ?? '', route: route ?? (req.route?.path as string | undefined) ?? (res.statusCode === 404 ? 'unmatched' : req.baseUrl || 'other'), status: String(res.statusCode) });
  });
  return { cancel: () => void (cancelled = true) };
}

/** Times every request that reaches Nest's routes. */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  use(req: Request, res: Response, next: NextFunction): void {
    timeHttpRequest(req, res);
    next();
  }
}

/**
 * `GET /metrics` in the Prometheus text format (outside /api/v1, as scrapers expect). Needs a
 * bearer holding `metrics.read` (an API key in Prometheus' `authorization.credentials_file`; see
 * docs/fleet.md): process and route metrics tell an outsider too much about the deployment.
 */
@ApiExcludeController()
@Controller()
export class MetricsController {
  @RequirePermission('metrics.read')
  @Get('metrics')
  async metrics(@Res() res: Response): Promise<void> {
    res.setHeader('Content-Type', metricsRegistry.contentType);
    res.end(await metricsRegistry.metrics());
  }
}
