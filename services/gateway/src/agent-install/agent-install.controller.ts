import { Body, Controller, Get, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { createZodDto } from 'nestjs-zod';
import { agentEnrollSchema, DomainError, Subjects, type EnrollReply } from '@encedeus/contracts';
import { CommandClient } from '@encedeus/messaging';
import { Public } from '@encedeus/security';
import { AgentBundle } from './agent-bundle';
import { EnrollLimiter } from './enroll-limiter';
import { installScript } from './install-script';
import { gatewayPublicUrl } from './public-url';

class AgentEnrollDto extends createZodDto(agentEnrollSchema) {}

/** Paths outside the `/api/v1` prefix (gateway.app.ts excludes them). */
export const AGENT_INSTALL_ROUTES = ['agent/install.sh', 'agent/encedeus-agent.tgz'];

/**
 * Installing an agent without a checkout (issue 14): the installer and the bundle, public (they hold
 * no secret), and the one narrow path where an enrollment token becomes the agent's credentials.
 */
@ApiTags('agent')
@Controller()
export class AgentInstallController {
  constructor(
    private readonly commands: CommandClient,
    @Inject(AgentBundle) private readonly bundle: AgentBundle,
    @Inject(EnrollLimiter) private readonly limiter: EnrollLimiter,
  ) {}

  /** `curl -fsSL <gateway>/agent/install.sh | sh -s -- --token <token>` */
  @Public()
  @ApiExcludeEndpoint() // a file for sh, not an API operation
  @Get(AGENT_INSTALL_ROUTES[0])
  async install(@Req() req: Request, @Res() res: Response): Promise<void> {
    // The script carries the bundle's checksum; without a bundle yet it is served anyway (the download then says why).
    const sha256 = await this.bundle.get().then((b) => b.sha256, () => undefined);
    res.setHeader('Content-Type', 'text/x-shellscript; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache');
    res.send(installScript(gatewayPublicUrl(req), sha256));
  }

  /** The standalone agent (npm-packed layout: encedeus-agent/{bin,lib,node_modules,package.json}). */
  @Public()
  @ApiExcludeEndpoint() // a file for install.sh, not an API operation
  @Get(AGENT_INSTALL_ROUTES[1])
  async tarball(@Req() req: Request, @Res() res: Response): Promise<void> {
    const { bytes, sha256 } = await this.bundle.get();
    const etag = `"${sha256}"`;
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-Checksum-Sha256', sha256);
    if (req.headers['if-none-match'] === etag) {
      res.status(304).end();
      return;
    }
    res.setHeader('Content-Type', 'application/gzip');
    res.setHeader('Content-Disposition', 'attachment; filename="encedeus-agent.tgz"');
    res.send(bytes);
  }

  /**
   * Trades a one-time enrollment token for the agent's own NATS credentials (once; rate limited).
   * Unknown token 401 `UNAUTHENTICATED`; used or expired 401 `TOKEN_EXPIRED`; no credentials either way.
   */
  @Public()
  @HttpCode(200)
  @ApiOkResponse({ description: 'The node id, the agent\'s own NATS credentials (`.creds` content) and the NATS URL to use' })
  @Post('agent/enroll')
  async enroll(@Body() body: AgentEnrollDto, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<EnrollReply> {
    const address = req.ip ?? 'unknown';
    this.limiter.check(address);
    res.setHeader('Cache-Control', 'no-store');
    // No Idempotency-Key or If-Match here: the reply is a secret and the token is spent once.
    const meta = { actor: 'system', correlationId: String((req as Request & { id?: unknown }).id ?? '') };
    const reply = await this.commands.request<EnrollReply>(Subjects.enroll, body, meta, { timeoutMs: 15_000 }).catch((error: unknown) => {
      if (error instanceof DomainError && (error.code === 'UNAUTHENTICATED' || error.code === 'TOKEN_EXPIRED')) this.limiter.failed(address);
      throw error;
    });
    return { node_id: reply.node_id, creds: reply.creds, ...(reply.nats_url ? { nats_url: reply.nats_url } : {}) };
  }
}
