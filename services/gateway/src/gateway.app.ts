import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { existsSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Logger } from 'nestjs-pino';
import { bodyParserMiddleware } from './common/body-parser.middleware';
import { applyRequestDeadlines, requestDeadlinesFromEnv } from './common/request-deadlines';
import { answerClientErrorsAsJson } from './common/client-errors';
import { GatewayModule } from './gateway.module';
import type { GatewayOptions } from './gateway.options';
import { trustedProxiesFromEnv } from './identity/trusted-proxies';
import { METRICS_ROUTES } from './metrics/metrics.controllers';
import { agentDataFastPath, AgentDataIngest } from './metrics/agent-ingest';
import { PRINCIPAL_RESOLVER } from '@encedeus/security';
import { AGENT_INSTALL_ROUTES } from './agent-install/agent-install.controller';
import { buildOpenApiDocument, OPENAPI_JSON_PATH } from './openapi/openapi.document';

export interface GatewayApp {
  app: INestApplication;
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

/** Puts `handler` in front of the server's request handler (Express), which it calls to pass a request on. */
function handleAhead(server: Server, handler: (req: IncomingMessage, res: ServerResponse, passOn: () => void) => void): void {
  const regular = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => handler(req, res, () => regular.forEach((listener) => listener.call(server, req, res))));
}

/** Builds and starts the gateway (main.ts and tests both use this). `port` 0 picks a free port. */
export async function createGatewayApp(options: GatewayOptions, port = 8080, host = '0.0.0.0'): Promise<GatewayApp> {
  const app = await NestFactory.create<NestExpressApplication>(GatewayModule.forRoot(options), {
    bodyParser: false,
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  // Only configured proxies may name the client (issue #8: any local process could spoof it).
  const trustedProxies = options.trustedProxies ?? trustedProxiesFromEnv(process.env.TRUSTED_PROXIES);
  app.set('trust proxy', trustedProxies.length > 0 ? trustedProxies : false);
  // External agents' reports skip Nest's pipeline in the plain case (metrics/agent-ingest.ts).
  // (Only with the metrics feature: app.get of a provider that is missing ends the process.)
  const withAgentData = (options.features ?? []).some((f) => (f.exports ?? []).includes(AgentDataIngest));
  if (withAgentData) handleAhead(app.getHttpServer(), agentDataFastPath(app.get(PRINCIPAL_RESOLVER), app.get(AgentDataIngest)));
  app.use(bodyParserMiddleware);
  answerClientErrorsAsJson(app.getHttpServer());
  applyRequestDeadlines(app.getHttpServer(), options.requestDeadlines ?? requestDeadlinesFromEnv());
  // `/metrics` (Prometheus) stays outside the prefix; METRICS_ROUTES carry it in their own paths.
  app.setGlobalPrefix('api/v1', { exclude: ['metrics', ...METRICS_ROUTES, ...AGENT_INSTALL_ROUTES] });
  app.enableShutdownHooks();

  // Generated from the routes and the zod contracts (openapi/openapi.document.ts); served as JSON for clients.
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: OPENAPI_JSON_PATH, useGlobalPrefix: false });

  const consoleDir = options.consoleDir;
  if (consoleDir && existsSync(join(consoleDir, 'index.html'))) {
    const express = app.getHttpAdapter().getInstance();
    const serveStatic = require('express').static;
    express.use(serveStatic(consoleDir, { index: false, maxAge: '1h' }));
    // SPA fallback: every non-API GET that is not a file gets the console's index.html.
    express.get(/^\/(?!api\/|metrics$|socket\.io\/|agent\/).*/, (_req: unknown, res: { sendFile(path: string): void }) => res.sendFile(join(consoleDir, 'index.html')));
  }

  await app.listen(port, host);
  const address = app.getHttpServer().address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return { app, url: `http://127.0.0.1:${actualPort}`, close: () => app.close() };
}
