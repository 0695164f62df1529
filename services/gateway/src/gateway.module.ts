import { Inject, Module, RequestMethod, type DynamicModule, type MiddlewareConsumer, type NestModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { NatsConnection } from 'nats';
import { LoggerModule } from 'nestjs-pino';
import { ZodValidationPipe } from 'nestjs-zod';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { MessagingModule, NATS_CONNECTION, Projector } from '@encedeus/messaging';
import { PermissionGuard, PRINCIPAL_RESOLVER, type PrincipalResolver } from '@encedeus/security';
import { AuditController } from './audit/audit.controller';
import { AuditProjection, GATEWAY_SCHEMA } from './audit/audit.projection';
import { FleetNamesProjection } from './audit/fleet-names.projection';
import { RequestSourceInterceptor, RequestSources } from './audit/request-sources';
import { SubjectNames } from './audit/subject-names';
import { HttpErrorFilter } from './common/http-exception.filter';
import { MsgpackInterceptor } from './common/msgpack.interceptor';
import { EventsController } from './events/events.controller';
import { GATEWAY_OPTIONS, type GatewayOptions } from './gateway.options';
import { HealthController } from './health/health.controller';
import { IdempotencyInterceptor } from './idempotency/idempotency.interceptor';
import { IdempotencyKeys } from './idempotency/idempotency-keys';
import { IntegrationsController } from './integrations/integrations.controller';
import { HttpMetricsMiddleware, MetricsController } from './observability/metrics';

/** Until identity provides a resolver, nobody is authenticated: guarded routes answer 401. */
const anonymousResolver: PrincipalResolver = { resolve: async () => null };

export const AUDIT_PROJECTOR = Symbol('AUDIT_PROJECTOR');
export const FLEET_NAMES_PROJECTOR = Symbol('FLEET_NAMES_PROJECTOR');

/** Starts the gateway's own projections (the audit log, the names of deleted servers, nodes and templates) and stops them on shutdown. */
class GatewayProjections implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(AUDIT_PROJECTOR) private readonly audit: Projector,
    @Inject(FLEET_NAMES_PROJECTOR) private readonly fleetNames: Projector,
  ) {}
  async onApplicationBootstrap() { await Promise.all([this.audit.start(), this.fleetNames.start()]); }
  async onApplicationShutdown() { await Promise.all([this.audit.stop(), this.fleetNames.stop()]); }
}

@Module({})
export class GatewayModule implements NestModule {
  static forRoot(options: GatewayOptions): DynamicModule {
    const features = options.features ?? [];
    const providesResolver = features.some((f) => (f.exports ?? []).includes(PRINCIPAL_RESOLVER));
    return {
      module: GatewayModule,
      imports: [
        MessagingModule.forRoot({ service: 'gateway', nats: { servers: options.nats.servers, creds: options.nats.creds } }),
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: options.databaseUrl,
          schema: GATEWAY_SCHEMA,
          uuidExtension: 'pgcrypto',
          synchronize: false,
          extra: { max: 10 },
        }),
        LoggerModule.forRoot({
          pinoHttp: {
            level: options.logLevel ?? process.env.LOG_LEVEL ?? 'info',
            genReqId: (req, res) => {
              const given = req.headers['x-request-id'];
              const id = typeof given === 'string' && /^[A-Za-z0-9_.-]{1,100}$/.test(given) ? given : randomUUID();
              res.setHeader('X-Request-Id', id);
              return id;
            },
            // Never log credentials: tokens, API keys and cookies are redacted.
            redact: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
            autoLogging: { ignore: (req) => req.url === '/metrics' || req.url === '/api/v1/health' },
            customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
            serializers: { req: (req) => ({ id: req.id, method: req.method, url: req.url }), res: (res) => ({ statusCode: res.statusCode }) },
          },
          exclude: [{ method: RequestMethod.ALL, path: 'metrics' }],
        }),
        ...features,
      ],
      controllers: [HealthController, EventsController, AuditController, IntegrationsController, MetricsController],
      providers: [
        { provide: GATEWAY_OPTIONS, useValue: options },
        ...(providesResolver ? [] : [{ provide: PRINCIPAL_RESOLVER, useValue: anonymousResolver }]),
        { provide: APP_GUARD, useClass: PermissionGuard },
        { provide: APP_FILTER, useClass: HttpErrorFilter },
        { provide: APP_PIPE, useClass: ZodValidationPipe },
        { provide: APP_INTERCEPTOR, useClass: MsgpackInterceptor },
        IdempotencyKeys,
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
        RequestSources,
        { provide: APP_INTERCEPTOR, useClass: RequestSourceInterceptor },
        SubjectNames,
        {
          provide: AUDIT_PROJECTOR,
          useFactory: (nc: NatsConnection, ds: DataSource) => new Projector(nc, ds, new AuditProjection(), { coalesceMs: 50 }),
          inject: [NATS_CONNECTION, DataSource],
        },
        {
          provide: FLEET_NAMES_PROJECTOR,
          useFactory: (nc: NatsConnection, ds: DataSource) => new Projector(nc, ds, new FleetNamesProjection(), { coalesceMs: 50 }),
          inject: [NATS_CONNECTION, DataSource],
        },
        GatewayProjections,
      ],
      exports: [GATEWAY_OPTIONS, AUDIT_PROJECTOR],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpMetricsMiddleware).forRoutes('{*path}');
  }
}
