import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { createZodDto } from 'nestjs-zod';
import { ForbiddenError, metricsQuerySchema, MetricsVerbs, type LatestSample, type MetricsSeries, type NodeView, type Page, type ServerView, type TemplateView } from '@encedeus/contracts';
import { CommandClient } from '@encedeus/messaging';
import { Authenticated, CurrentPrincipal, hasPermission, RequirePermission, type Principal } from '@encedeus/security';
import { commandMeta } from '../common/request-meta';
import { assertCanSee } from '../fleet/fleet-access';
import { OPENMETRICS_TYPE, renderFleet, type ServerLabels } from './fleet-exposition';

class MetricsQueryDto extends createZodDto(metricsQuerySchema) {}

/**
 * Paths of this module written in full and left out of the global prefix: the gateway's own
 * Prometheus route is `/metrics` outside `/api/v1`, and Nest's prefix exclusion matches a route by
 * its path alone, so `@Controller('metrics')` would be excluded (served at `/metrics`) with it.
 */
export const METRICS_ROUTES = ['api/v1/metrics', 'api/v1/metrics/fleet'];

/**
 * `GET /api/v1/metrics?target=node:<id>|server:<id>|fleet&from&to&step` (issue 12): usage history from
 * the metrics service. A node's (and the fleet's) needs `nodes.read`; a server's follows contracts' canSeeServer (404
 * when hidden), and only what the server's own node sent is answered.
 */
@ApiTags('metrics')
@Controller()
export class UsageMetricsController {
  constructor(private readonly commands: CommandClient) {}

  @Authenticated()
  @Get(METRICS_ROUTES[0])
  async query(@Query() query: MetricsQueryDto, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<MetricsSeries> {
    const meta = commandMeta(req, p);
    const [kind, id] = query.target.split(':');
    if (kind === 'fleet') {
      if (!hasPermission(p, 'nodes.read')) throw new ForbiddenError("Reading the fleet's metrics needs nodes.read", { missing: ['nodes.read'] });
      return this.commands.send<MetricsSeries>('metrics', MetricsVerbs.query, query, meta);
    }
    if (kind === 'node') {
      if (!hasPermission(p, 'nodes.read')) throw new ForbiddenError("Reading a node's metrics needs nodes.read", { missing: ['nodes.read'] });
      await this.commands.send<NodeView>('nodes', 'get_node', { id }, meta);
      return this.commands.send<MetricsSeries>('metrics', MetricsVerbs.query, { ...query, node_id: id }, meta);
    }
    const server = await this.commands.send<ServerView>('nodes', 'get_server', { id }, meta);
    assertCanSee(p, server);
    return this.commands.send<MetricsSeries>('metrics', MetricsVerbs.query, { ...query, node_id: server.node_id }, meta);
  }

  /**
   * `GET /api/v1/metrics/fleet`: every node and server in OpenMetrics text for Prometheus (labels
   * `node_id`, `server_id`, `server_name`, `template`), for a bearer holding `metrics.read`.
   */
  @RequirePermission('metrics.read')
  @Get(METRICS_ROUTES[1])
  async fleet(@Req() req: Request, @CurrentPrincipal() p: Principal, @Res() res: Response): Promise<void> {
    const meta = commandMeta(req, p);
    const [latest, servers, templates] = await Promise.all([
      this.commands.send<{ items: LatestSample[] }>('metrics', MetricsVerbs.fleetLatest, {}, meta),
      this.all<ServerView>('list_servers', meta),
      this.all<TemplateView>('list_templates', meta),
    ]);
    const templateNames = new Map(templates.map((t) => [t.id, t.name]));
    const labels = new Map<string, ServerLabels>(servers.map((s) => [s.id, { name: s.name, node_id: s.node_id, template: templateNames.get(s.template_id) ?? s.template_id }]));
    res.status(200).setHeader('Content-Type', OPENMETRICS_TYPE);
    res.end(renderFleet(latest.items, labels));
  }

  /** Every page of a fleet list. */
  private async all<T>(verb: string, meta: ReturnType<typeof commandMeta>): Promise<T[]> {
    const items: T[] = [];
    for (let cursor: string | null = null; ; ) {
      const page: Page<T> = await this.commands.send<Page<T>>('nodes', verb, { limit: 500, ...(cursor ? { cursor } : {}) }, meta);
      items.push(...page.items);
      cursor = page.nextCursor;
      if (!cursor) return items;
    }
  }
}
