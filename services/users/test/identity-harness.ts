import type { INestMicroservice } from '@nestjs/common';
import request from 'supertest';
import { startServiceApp } from '@encedeus/messaging';
import { startSmtpCatcher, startTestEnv, type SmtpCatcher, type TestEnv } from '@encedeus/testing';
import { AuthModule } from '../../auth/src/auth.module';
import type { AuthModuleOptions } from '../../auth/src/auth.options';
import { createGatewayApp, type GatewayApp } from '../../gateway/src/gateway.app';
import { IdentityModule } from '../../gateway/src/identity/identity.module';
import { IdentityBootstrap } from '../src/bootstrap/identity-bootstrap';
import { UsersModule } from '../src/users.module';

export const ADMIN = { email: 'root@example.test', password: 'correct horse battery' };

/** Cheap argon2id for tests (OWASP's floor); production defaults to 64 MiB, t=3. */
export const TEST_ARGON2 = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

/** auth + users services in-process and the gateway with IdentityModule, on a fresh NATS, database and SMTP catcher. */
export interface IdentityHarness {
  env: TestEnv;
  smtp: SmtpCatcher;
  auth: INestMicroservice;
  users: INestMicroservice;
  gateway: GatewayApp;
  http(): ReturnType<typeof request>;
  login(login: string, password: string): Promise<{ accessToken: string; refreshToken: string }>;
  adminToken(): Promise<string>;
  stop(): Promise<void>;
}

/** An environment someone else owns (bench/run.ts): it is not stopped with the harness. */
export interface ExternalEnv {
  nats: TestEnv['nats'];
  db: { url: string };
}

/** An auth service app on `env` (the harness's, or a second instance / a restart of it in a test). */
export async function startAuthApp(env: Pick<TestEnv, 'nats' | 'db'>, smtp: SmtpCatcher, auth: Partial<AuthModuleOptions> = {}): Promise<INestMicroservice> {
  const servers = env.nats.url;
  const authCreds = await env.nats.creds('auth');
  return startServiceApp(
    'auth',
    AuthModule.forRoot({
      nats: { servers, creds: authCreds },
      databaseUrl: env.db.url,
      smtp: { host: smtp.host, port: smtp.port, from: 'Encedeus <no-reply@encedeus.test>' },
      registrationEnabled: true,
      passwordHash: TEST_ARGON2,
      ...auth,
    }),
    { servers, creds: authCreds, logger: ['error'] as never },
  );
}

export async function startIdentity(auth: Partial<AuthModuleOptions> = {}, external?: ExternalEnv): Promise<IdentityHarness> {
  const env: TestEnv = external ? ({ ...external, stop: async () => undefined } as unknown as TestEnv) : await startTestEnv();
  const smtp = await startSmtpCatcher();
  const servers = env.nats.url;
  const usersCreds = await env.nats.creds('users');
  const authApp = await startAuthApp(env, smtp, auth);
  const usersApp = await startServiceApp(
    'users',
    UsersModule.forRoot({ nats: { servers, creds: usersCreds }, databaseUrl: env.db.url, adminEmail: ADMIN.email, adminPassword: ADMIN.password }),
    { servers, creds: usersCreds, logger: ['error'] as never },
  );
  await usersApp.get(IdentityBootstrap).ready;
  const gateway = await createGatewayApp(
    {
      nats: { servers, creds: await env.nats.creds('gateway') },
      databaseUrl: env.db.url,
      services: ['auth', 'users'],
      features: [IdentityModule.forRoot()],
      logLevel: 'silent',
    },
    0,
    '127.0.0.1',
  );
  const http = () => request(gateway.url);
  let adminAccess: string | undefined;
  const login = async (name: string, password: string) => {
    const res = await http().post('/api/v1/auth/login').send(name.includes('@') ? { email: name, password } : { username: name, password });
    if (res.status !== 200 || !res.body.accessToken) throw new Error(`login ${name} failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as { accessToken: string; refreshToken: string };
  };
  return {
    env,
    smtp,
    auth: authApp,
    users: usersApp,
    gateway,
    http,
    login,
    async adminToken() {
      adminAccess ??= (await login(ADMIN.email, ADMIN.password)).accessToken;
      return adminAccess;
    },
    async stop() {
      await gateway.close().catch(() => undefined);
      await usersApp.close().catch(() => undefined);
      await authApp.close().catch(() => undefined);
      await smtp.stop().catch(() => undefined);
      await env.stop();
    },
  };
}
