import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { healthControllerFor, MessagingModule, type EncedeusConfig } from '@encedeus/messaging';
import { ApiKeysController } from './apikeys/apikeys.controller';
import { ApiKeysService } from './apikeys/apikeys.service';
import { AUTH_OPTIONS, type AuthModuleOptions } from './auth.options';
import { CredentialsController } from './credentials/credentials.controller';
import { PasswordHasher } from './credentials/password-hasher';
import { LoginController } from './login/login.controller';
import { LoginRateLimiter } from './login/login-rate-limiter';
import { PasswordChecks } from './login/password-checks';
import { SftpLoginController } from './login/sftp-login.controller';
import { OneTimeCodes } from './login/one-time-codes';
import { Mailer } from './mail/mailer';
import { AuthState } from './state/auth-state';
import { TokenIssuer } from './tokens/token-issuer';
import { UserCredentialsProcessManager } from './process-managers/user-credentials.process-manager';
import { SessionLog } from './sessions/session-log';

/** The auth service: credentials, tokens, OTP, API keys; state in schema `auth`. */
@Module({})
export class AuthModule {
  static forRoot(options: AuthModuleOptions): DynamicModule {
    return {
      module: AuthModule,
      imports: [
        MessagingModule.forRoot({ service: 'auth', nats: options.nats }),
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: options.databaseUrl,
          schema: 'auth',
          uuidExtension: 'pgcrypto',
          synchronize: false,
          entities: [],
          extra: { max: 10 },
        }),
      ],
      controllers: [LoginController, SftpLoginController, CredentialsController, ApiKeysController, healthControllerFor('auth')],
      providers: [
        { provide: AUTH_OPTIONS, useValue: options },
        AuthState,
        SessionLog,
        TokenIssuer,
        Mailer,
        OneTimeCodes,
        LoginRateLimiter,
        PasswordChecks,
        PasswordHasher,
        ApiKeysService,
        UserCredentialsProcessManager,
      ],
    };
  }

  static optionsFrom(config: EncedeusConfig, creds: string): AuthModuleOptions {
    return {
      nats: { servers: config.nats.url, creds },
      databaseUrl: config.databaseUrl,
      smtp: config.smtp,
      registrationEnabled: config.auth.registrationEnabled,
      otpRequired: config.auth.otpRequired,
    };
  }
}
