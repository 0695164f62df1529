import { Module, type DynamicModule } from '@nestjs/common';
import {
  PLUGINS_GATEWAY_OPTIONS,
  PluginRepositoriesController,
  PluginsController,
  RepositoryWebhookController,
  TemplateCatalogController,
  type PluginsGatewayOptions,
} from './plugins.controllers';
import { PluginMetrics } from './plugins.metrics';

/**
 * REST of the plugins service (issue 13, docs/plugins.md): `/plugins/*`, `/plugins/repositories`,
 * `/catalog/templates`, the signed `/webhooks/repository/sync`, and the plugins' lag and dead
 * letters on `GET /metrics`. Everything is `cmd.plugins.<verb>`
 * (templates install through `cmd.nodes.create_template`).
 */
@Module({})
export class PluginsModule {
  static forRoot(options: PluginsGatewayOptions = { webhookSecret: process.env.PLUGINS_WEBHOOK_SECRET || undefined }): DynamicModule {
    return {
      module: PluginsModule,
      // Repositories first: `/plugins/repositories` must not reach `/plugins/:id`.
      controllers: [PluginRepositoriesController, PluginsController, TemplateCatalogController, RepositoryWebhookController],
      providers: [{ provide: PLUGINS_GATEWAY_OPTIONS, useValue: options }, PluginMetrics],
    };
  }
}
