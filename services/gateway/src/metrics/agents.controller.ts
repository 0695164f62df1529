import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { createZodDto } from 'nestjs-zod';
import {
  agentByeSchema,
  agentDataQuerySchema,
  agentDataSchema,
  agentPingSchema,
  agentSeriesQuerySchema,
  AGENT_SUCCESS,
  externalAgentIdSchema,
  ExternalAgentVerbs,
  ValidationError,
  type ExternalAgentDatum,
  type ExternalAgentView,
} from '@encedeus/contracts';
import { CommandClient } from '@encedeus/messaging';
import { CurrentPrincipal, RequirePermission, type Principal } from '@encedeus/security';
import { commandMeta } from '../common/request-meta';
import { AgentDataIngest } from './agent-ingest';

class AgentPingDto extends createZodDto(agentPingSchema) {}
class AgentDataDto extends createZodDto(agentDataSchema) {}
class AgentByeDto extends createZodDto(agentByeSchema) {}
class AgentDataQuery extends createZodDto(agentDataQuerySchema) {}
class AgentSeriesQuery extends createZodDto(agentSeriesQuerySchema) {}

type Success = { result: 'success' };

/**
 * External agents (seed 002, docs/metrics.md): `POST /agents/ping|data|bye` in JSON or MessagePack
 * (answered in MessagePack when `Accept` asks; any other body type is 415), `200 {"result":"success"}`,
 * 422 naming missing fields, 401 without a token. Reporting needs `metrics.ingest` (an API key);
 * reading `metrics.read`.
 */
@ApiTags('agents')
@Controller('agents')
export class ExternalAgentsController {
  constructor(
    private readonly commands: CommandClient,
    private readonly ingest: AgentDataIngest,
  ) {}

  @RequirePermission('metrics.ingest')
  @Post('ping')
  @HttpCode(200)
  ping(@Body() body: AgentPingDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<Success>('metrics', ExternalAgentVerbs.ping, body, commandMeta(req, p));
  }

  /**
   * Most reports never get here: agentDataFastPath (agent-ingest.ts) answers the plain case ahead of
   * Nest. This route answers the rest (refusals, Idempotency-Key replays) and stores through the same batches.
   */
  @RequirePermission('metrics.ingest')
  @Post('data')
  @HttpCode(200)
  async data(@Body() body: AgentDataDto, @Req() req: Request): Promise<Success> {
    await this.ingest.ingest(body, Number(req.headers['content-length']) || 0);
    return AGENT_SUCCESS;
  }

  @RequirePermission('metrics.ingest')
  @Post('bye')
  @HttpCode(200)
  bye(@Body() body: AgentByeDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<Success>('metrics', ExternalAgentVerbs.bye, body, commandMeta(req, p));
  }

  /** Every external agent: state, last ping, its timeout, the data types it sent. */
  @RequirePermission('metrics.read')
  @Get()
  list(@Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<{ items: ExternalAgentView[] }>('metrics', ExternalAgentVerbs.list, {}, commandMeta(req, p));
  }

  /** One numeric field of an agent's data type as a series (`{series, step, resolution, points: [{t, avg, min, max}]}`). */
  @RequirePermission('metrics.read')
  @Get(':id/series')
  agentSeries(@Param('id') id: string, @Query() query: AgentSeriesQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    if (!externalAgentIdSchema.safeParse(id).success) throw new ValidationError('Invalid agent id', [{ path: 'id', message: 'must be 1-64 letters, digits, _ or -' }]);
    return this.commands.send('metrics', ExternalAgentVerbs.series, { ...query, id }, commandMeta(req, p));
  }

  /** One agent's data documents in a range (default the last hour), oldest first. */
  @RequirePermission('metrics.read')
  @Get(':id/data')
  agentData(@Param('id') id: string, @Query() query: AgentDataQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    if (!externalAgentIdSchema.safeParse(id).success) throw new ValidationError('Invalid agent id', [{ path: 'id', message: 'must be 1-64 letters, digits, _ or -' }]);
    return this.commands.send<{ agent_id: string; items: ExternalAgentDatum[] }>('metrics', ExternalAgentVerbs.queryData, { ...query, id }, commandMeta(req, p));
  }
}
