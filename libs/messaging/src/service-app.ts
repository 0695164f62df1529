import { Controller, Inject, Logger, Optional, type DynamicModule, type INestMicroservice, type LoggerService, type LogLevel, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern, type MicroserviceOptions } from '@nestjs/microservices';
import { DataSource } from 'typeorm';
import { Subjects, type ServiceName } from '@encedeus/contracts';
import { natsTransportOptions } from './nats-connection';
import { NATS_STATUS } from './messaging.module';
import { CommandServerNats } from './nats-auth/command-guard';
import type { NatsStatus } from './nats-connection';
import { projectionStatus, type ProjectionStatus } from './projector';
import { RpcErrorFilter } from './rpc-error.filter';

export interface ServiceAppOptions {
  servers: string | string[];
  creds: string;
  logger?: LoggerService | LogLevel[] | false;
}

/**
 * Boots a domain service as a Nest microservice on NATS: queue group = service name, typed errors
 * kept across the hop (RpcErrorFilter), shutdown hooks so connections drain.
 */
export async function startServiceApp(service: ServiceName, rootModule: DynamicModule | Type, options: ServiceAppOptions): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(rootModule, {
    // Nest's NATS transport, running commands only for requests (never for JetStream deliveries).
    strategy: new CommandServerNats(natsTransportOptions({ servers: options.servers, creds: options.creds, name: `encedeus-${service}-rpc`, queue: service })),
    logger: options.logger ?? ['error', 'warn', 'log'],
  });
  app.useGlobalFilters(new RpcErrorFilter());
  app.enableShutdownHooks();
  await app.listen();
  new Logger(service).log(`listening on cmd.${service}.>`);
  return app;
}

/** Health of one service as answered on `cmd.<service>.health`. */
export interface ServiceHealth {
  service: string;
  status: 'up' | 'degraded';
  nats: boolean;
  postgres?: boolean;
  /** Each started projection of the service; any dead letter makes the service `degraded`. */
  projections?: Record<string, ProjectionStatus>;
  details?: Record<string, unknown>;
}

/** A controller answering `cmd.<service>.health` with its NATS, Postgres and projections' status. */
export function healthControllerFor(service: ServiceName): Type {
  @Controller()
  class HealthController {
    constructor(
      @Inject(NATS_STATUS) private readonly nats: NatsStatus,
      @Optional() @Inject(DataSource) private readonly dataSource?: DataSource,
    ) {}

    @MessagePattern(Subjects.health(service))
    async health(): Promise<ServiceHealth> {
      let postgres: boolean | undefined;
      let projections: Record<string, ProjectionStatus> | undefined;
      if (this.dataSource) {
        postgres = await this.dataSource.query('select 1').then(() => true, () => false);
        if (postgres) projections = await projectionStatus(this.dataSource).catch(() => undefined);
      }
      const parked = Object.values(projections ?? {}).some((p) => p.deadLetters > 0);
      const up = this.nats.connected && postgres !== false && !parked;
      return { service, status: up ? 'up' : 'degraded', nats: this.nats.connected, postgres, ...(projections ? { projections } : {}) };
    }
  }
  return HealthController;
}
