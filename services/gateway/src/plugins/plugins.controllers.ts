import { createHmac, timingSafeEqual } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import {
  addRepositorySchema,
  catalogQuerySchema,
  createTemplateSchema,
  DomainError,
  installPluginSchema,
  pluginConfigSchema,
  ratePluginSchema,
  text,
  UnauthenticatedError,
  ValidationError,
  type CatalogPluginView,
  type CatalogTemplateView,
  type InstalledPluginView,
  type RepositoryView,
  type TemplateView,
} from '@encedeus/contracts';
import { CommandClient } from '@encedeus/messaging';
import { CurrentPrincipal, Public, RequirePermission, type Principal } from '@encedeus/security';
import { commandMeta } from '../common/request-meta';
import { UuidParam } from '../common/uuid-param';

export const PLUGINS_GATEWAY_OPTIONS = Symbol('PLUGINS_GATEWAY_OPTIONS');

export interface PluginsGatewayOptions {
  /** Shared secret of `POST /webhooks/repository/sync` (HMAC-SHA256 of the body); unset = the webhook is off. */
  webhookSecret?: string;
}

const uuid = UuidParam;

class CatalogQuery extends createZodDto(catalogQuerySchema) {}
class TemplateQuery extends createZodDto(catalogQuerySchema.omit({ repository_id: true })) {}
class InstallDto extends createZodDto(installPluginSchema) {}
class ConfigDto extends createZodDto(pluginConfigSchema) {}
class RateDto extends createZodDto(ratePluginSchema) {}
class RepositoryDto extends createZodDto(addRepositorySchema) {}
class LogsQuery extends createZodDto(z.object({ limit: z.coerce.number().int().min(1).max(500).optional() })) {}

/** Plugin repositories (Git): listed, added (synced at once), synced, removed. Registered before PluginsController so `/plugins/repositories` is not read as an id. */
@ApiTags('plugins')
@Controller('plugins/repositories')
export class PluginRepositoriesController {
  constructor(private readonly commands: CommandClient) {}

  @RequirePermission('plugins.manage')
  @Get()
  list(@Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<RepositoryView[]>('plugins', 'repositories', {}, commandMeta(req, p));
  }

  @RequirePermission('plugins.manage')
  @Post()
  add(@Body() body: RepositoryDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<RepositoryView>('plugins', 'add_repository', body, commandMeta(req, p), { timeoutMs: 120_000 });
  }

  @RequirePermission('plugins.manage')
  @Post(':id/sync')
  @HttpCode(200)
  sync(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<RepositoryView>('plugins', 'sync_repository', { id }, commandMeta(req, p), { timeoutMs: 120_000 });
  }

  @RequirePermission('plugins.manage')
  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    await this.commands.send('plugins', 'remove_repository', { id }, commandMeta(req, p));
  }
}

/** Seed 004's plugin routes: catalog, install, installed, enable/disable, config, rate, logs, uninstall. */
@ApiTags('plugins')
@Controller('plugins')
export class PluginsController {
  constructor(private readonly commands: CommandClient) {}

  @RequirePermission('plugins.manage')
  @Get('catalog')
  catalog(@Query() query: CatalogQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<CatalogPluginView[]>('plugins', 'catalog', query, commandMeta(req, p));
  }

  /** Installs from the catalog; a high-risk plugin needs `approve: true` from an administrator (one holding every permission). */
  @RequirePermission('plugins.manage')
  @Post('install')
  install(@Body() body: InstallDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<InstalledPluginView>('plugins', 'install', { ...body, installer_permissions: [...p.permissions] }, commandMeta(req, p), { timeoutMs: 30_000 });
  }

  @RequirePermission('plugins.manage')
  @Get('installed')
  installed(@Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<InstalledPluginView[]>('plugins', 'installed', {}, commandMeta(req, p));
  }

  @RequirePermission('plugins.manage')
  @Get(':id')
  get(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<InstalledPluginView>('plugins', 'get_installed', { id }, commandMeta(req, p));
  }

  @RequirePermission('plugins.manage')
  @Post(':id/enable')
  @HttpCode(200)
  enable(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<InstalledPluginView>('plugins', 'enable', { id }, commandMeta(req, p));
  }

  @RequirePermission('plugins.manage')
  @Post(':id/disable')
  @HttpCode(200)
  disable(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<InstalledPluginView>('plugins', 'disable', { id }, commandMeta(req, p));
  }

  @RequirePermission('plugins.manage')
  @Put(':id/config')
  configure(@Param('id', uuid) id: string, @Body() body: ConfigDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<InstalledPluginView>('plugins', 'configure', { id, config: body.config }, commandMeta(req, p));
  }

  @RequirePermission('plugins.manage')
  @Post(':id/rate')
  @HttpCode(200)
  rate(@Param('id', uuid) id: string, @Body() body: RateDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<InstalledPluginView>('plugins', 'rate', { ...body, id, user_id: p.userId }, commandMeta(req, p));
  }

  @RequirePermission('plugins.manage')
  @Get(':id/logs')
  logs(@Param('id', uuid) id: string, @Query() query: LogsQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send('plugins', 'logs', { id, ...(query.limit ? { limit: query.limit } : {}) }, commandMeta(req, p));
  }

  @RequirePermission('plugins.manage')
  @Delete(':id')
  @HttpCode(204)
  async uninstall(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    await this.commands.send('plugins', 'uninstall', { id }, commandMeta(req, p));
  }
}

/** The template catalog (seed 004): templates found in the plugin repositories, installed as POST /templates would. */
@ApiTags('templates')
@Controller('catalog/templates')
export class TemplateCatalogController {
  constructor(private readonly commands: CommandClient) {}

  @RequirePermission('templates.read')
  @Get()
  list(@Query() query: TemplateQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<CatalogTemplateView[]>('plugins', 'templates', query, commandMeta(req, p));
  }

  /** Creates a template from the catalog entry (the body of POST /templates, validated again here). */
  @RequirePermission('templates.manage')
  @Post(':id/install')
  async install(@Param('id', uuid) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const meta = commandMeta(req, p);
    const entry = await this.commands.send<CatalogTemplateView>('plugins', 'get_template', { id }, meta);
    const body = createTemplateSchema.safeParse(entry.template);
    if (!body.success) throw new ValidationError('The catalog template is not a valid template', body.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
    return this.commands.send<TemplateView>('nodes', 'create_template', body.data, meta);
  }
}

const MAX_WEBHOOK_BYTES = 256 * 1024;
const webhookBodySchema = z.union([
  z.object({ url: text().max(2000), branch: text().max(200).optional() }),
  // A Git host's push payload (GitHub, Gitea, GitLab): the repository's clone URL and the pushed ref.
  z.object({
    ref: text().max(300).optional(),
    repository: z.object({ clone_url: text().max(2000).optional(), git_http_url: text().max(2000).optional(), url: text().max(2000).optional() }),
  }),
]);

/**
 * `POST /webhooks/repository/sync` (seed 004): a Git host tells us a repository changed. Public, but
 * signed: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` with the shared secret
 * (PLUGINS_WEBHOOK_SECRET). Syncs every repository with that URL (and branch).
 */
@ApiTags('plugins')
@Controller('webhooks/repository')
export class RepositoryWebhookController {
  constructor(
    private readonly commands: CommandClient,
    @Inject(PLUGINS_GATEWAY_OPTIONS) private readonly options: PluginsGatewayOptions,
  ) {}

  @Public()
  @Post('sync')
  @HttpCode(200)
  async sync(@Req() req: Request) {
    const secret = this.options.webhookSecret;
    if (!secret) throw new DomainError('FEATURE_DISABLED', 'The repository webhook is off (no PLUGINS_WEBHOOK_SECRET)');
    const raw = await readRaw(req);
    const header = String(req.headers['x-hub-signature-256'] ?? req.headers['x-encedeus-signature'] ?? '');
    const given = Buffer.from(header.replace(/^sha256=/, ''), 'hex');
    const expected = createHmac('sha256', secret).update(raw).digest();
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new UnauthenticatedError('The webhook signature does not match');
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (error) {
      throw new DomainError('MALFORMED_BODY', `The body is not valid JSON: ${(error as Error).message}`);
    }
    const parsed = webhookBodySchema.safeParse(json);
    if (!parsed.success) throw new ValidationError('Send { url, branch? } or a push payload with repository.clone_url', parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
    const body = parsed.data;
    const target =
      'url' in body
        ? { url: body.url, branch: body.branch }
        : { url: body.repository.clone_url ?? body.repository.git_http_url ?? body.repository.url ?? '', branch: body.ref?.replace(/^refs\/heads\//, '') };
    if (!target.url) throw new ValidationError('The payload names no repository URL', [{ path: 'repository.clone_url', message: 'required' }]);
    return this.commands.send<{ synced: RepositoryView[] }>('plugins', 'sync_by_url', target, { actor: 'webhook:repository' }, { timeoutMs: 120_000 });
  }
}

/** The raw body of the webhook (the body parser leaves this route alone: the signature covers the exact bytes). */
function readRaw(req: Request): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_WEBHOOK_BYTES) {
        req.destroy();
        reject(new DomainError('PAYLOAD_TOO_LARGE', `The body is larger than ${MAX_WEBHOOK_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
