import { Controller, Get, Query, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { createZodDto } from 'nestjs-zod';
import { ForbiddenError, metricsQuerySchema, MetricsVerbs, type MetricsSeries, type NodeView, type ServerView } from '@encedeus/contracts';
import { CommandClient } from '@encedeus/messaging';
import { Authenticated, CurrentPrincipal, hasPermission, type Principal } from '@encedeus/security';
import { commandMeta } from '../common/request-meta';
import { assertCanSee } from '../fleet/fleet-access';

class MetricsQueryDto extends createZodDto(metricsQuerySchema) {}

/**
 * Paths of this module written in full and left out of the global prefix: the gateway's own
 * Prometheus route is `/metrics` outside `/api/v1`, and Nest's prefix exclusion matches a route by
 * its path alone, so `@Controller('metrics')` would be excluded (served at `/metrics`) with it.
 */
export const METRICS_ROUTES = ['api/v1/metrics'];

/**
 * `GET /api/v1/metrics?target=node:<id>|server:<id>&from&to&step` (issue 12): usage history from
 * the metrics service. A node's needs `nodes.read`; a server's follows contracts' canSeeServer (404
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
    if (kind === 'node') {
      if (!hasPermission(p, 'nodes.read')) throw new ForbiddenError("Reading a node's metrics needs nodes.read", { missing: ['nodes.read'] });
      await this.commands.send<NodeView>('nodes', 'get_node', { id }, meta);
      return this.commands.send<MetricsSeries>('metrics', MetricsVerbs.query, { ...query, node_id: id }, meta);
    }
    const server = await this.commands.send<ServerView>('nodes', 'get_server', { id }, meta);
    assertCanSee(p, server);
    return this.commands.send<MetricsSeries>('metrics', MetricsVerbs.query, { ...query, node_id: server.node_id }, meta);
  }
}
