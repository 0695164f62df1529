import { Global, Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { CommandClient } from './command-client';
import { EventStore } from './event-store';
import { connectNats, type NatsConnectionOptions, type NatsStatus } from './nats-connection';

export const NATS_CONNECTION = Symbol('NATS_CONNECTION');
export const NATS_STATUS = Symbol('NATS_STATUS');

export interface MessagingModuleOptions {
  /** Service name: the `source` of its events and its NATS connection name. */
  service: string;
  nats: Omit<NatsConnectionOptions, 'name'>;
}

/** Drains the connection on shutdown so in-flight publishes and replies are delivered. */
class NatsDrainer implements OnApplicationShutdown {
  constructor(@Inject(NATS_CONNECTION) private readonly nc: NatsConnection) {}
  async onApplicationShutdown(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}

/** One NATS connection per process, the EventStore and the CommandClient on top of it. */
@Global()
@Module({})
export class MessagingModule {
  static forRoot(options: MessagingModuleOptions): DynamicModule {
    const connection = connectNats({ ...options.nats, name: `encedeus-${options.service}` });
    return {
      module: MessagingModule,
      providers: [
        { provide: NATS_CONNECTION, useFactory: async () => (await connection).nc },
        { provide: NATS_STATUS, useFactory: async (): Promise<NatsStatus> => (await connection).status },
        {
          provide: EventStore,
          useFactory: (nc: NatsConnection) => EventStore.create(nc, { service: options.service }),
          inject: [NATS_CONNECTION],
        },
        { provide: CommandClient, useFactory: (nc: NatsConnection) => new CommandClient(nc), inject: [NATS_CONNECTION] },
        NatsDrainer,
      ],
      exports: [NATS_CONNECTION, NATS_STATUS, EventStore, CommandClient],
    };
  }
}
