import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { NATS_CONNECTION, Projector } from '@encedeus/messaging';
import { UsersReadModelProjection } from '../projections/users-read-model.projection';

/**
 * Owns the projector of schema `users` and gives queries read-your-writes: a query first waits
 * until the projection has applied the last event this instance appended.
 */
@Injectable()
export class ReadModel implements OnModuleInit, OnApplicationShutdown {
  readonly projector: Projector;
  private lastWrite = 0;

  constructor(@Inject(NATS_CONNECTION) nc: NatsConnection, readonly dataSource: DataSource) {
    this.projector = new Projector(nc, dataSource, new UsersReadModelProjection());
  }

  async onModuleInit(): Promise<void> {
    await this.projector.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.projector.stop();
  }

  wrote(sequence: number): void {
    this.lastWrite = Math.max(this.lastWrite, sequence);
  }

  /** Waits (bounded) until every write of this instance, or `sequence`, is in the tables. */
  async fresh(sequence = 0): Promise<void> {
    const target = Math.max(this.lastWrite, sequence);
    if (target > this.projector.position) await this.projector.waitFor(target, 3000);
  }

  query<T = any>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.dataSource.query(sql, params);
  }
}
