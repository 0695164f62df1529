import { NestFactory } from '@nestjs/core';
import type { OpenAPIObject } from '@nestjs/swagger';
import { AGENT_INSTALL_ROUTES } from '../agent-install/agent-install.controller';
import { GatewayModule } from '../gateway.module';
import { gatewayFeatures } from '../gateway.features';
import type { GatewayOptions } from '../gateway.options';
import { METRICS_ROUTES } from '../metrics/metrics.controllers';
import { buildOpenApiDocument } from './openapi.document';

/**
 * The gateway's OpenAPI document without NATS or Postgres: Nest's `preview` mode builds the module
 * graph and routes but instantiates no provider, so nothing connects. Same routes, prefix and
 * generator as the running gateway (gateway.app.ts).
 */
export async function previewOpenApiDocument(): Promise<OpenAPIObject> {
  const options: GatewayOptions = { nats: { servers: 'nats://127.0.0.1:9', creds: '' }, databaseUrl: 'postgres://preview@127.0.0.1:9/preview' };
  const app = await NestFactory.create(GatewayModule.forRoot({ ...options, features: gatewayFeatures(options) }), { preview: true, logger: false, abortOnError: false });
  app.setGlobalPrefix('api/v1', { exclude: ['metrics', ...METRICS_ROUTES, ...AGENT_INSTALL_ROUTES] });
  return buildOpenApiDocument(app);
}
