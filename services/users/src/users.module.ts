import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { healthControllerFor, MessagingModule, type EncedeusConfig } from '@encedeus/messaging';
import { IdentityBootstrap } from './bootstrap/identity-bootstrap';
import { AggregateRunner } from './common/aggregate-runner';
import { ReadModel } from './common/read-model';
import { RoleCommandsController } from './commands/role-commands.controller';
import { RoleNameReservations } from './commands/role-name-reservations';
import { RolesResolver } from './commands/roles-resolver';
import { UserCommandsController } from './commands/user-commands.controller';
import { UsersQueriesController } from './queries/users-queries.controller';
import { USERS_OPTIONS, type UsersModuleOptions } from './users.options';

/** The users service: aggregates `user` and `role`, read model in schema `users`. */
@Module({})
export class UsersModule {
  static forRoot(options: UsersModuleOptions): DynamicModule {
    return {
      module: UsersModule,
      imports: [
        MessagingModule.forRoot({ service: 'users', nats: options.nats }),
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: options.databaseUrl,
          schema: 'users',
          uuidExtension: 'pgcrypto',
          synchronize: false,
          entities: [],
          extra: { max: 10 },
        }),
      ],
      controllers: [UserCommandsController, RoleCommandsController, UsersQueriesController, healthControllerFor('users')],
      providers: [{ provide: USERS_OPTIONS, useValue: options }, ReadModel, AggregateRunner, RolesResolver, RoleNameReservations, IdentityBootstrap],
      exports: [ReadModel, IdentityBootstrap],
    };
  }

  /** Options from the shared configuration. */
  static optionsFrom(config: EncedeusConfig, creds: string): UsersModuleOptions {
    return {
      nats: { servers: config.nats.url, creds },
      databaseUrl: config.databaseUrl,
      adminEmail: config.auth.adminEmail,
      adminPassword: config.auth.adminPassword,
    };
  }
}
