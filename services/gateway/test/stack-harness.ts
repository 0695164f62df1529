import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestMicroservice } from '@nestjs/common';
import request from 'supertest';
import { startServiceApp } from '@encedeus/messaging';
import { startSmtpCatcher, startTestEnv, waitFor as pollUntil, type SmtpCatcher, type TestEnv } from '@encedeus/testing';
import { removeAgentData, spawnAgent, stopAgents, type AgentProcess } from '../../agent/test/fixtures/agent-process';
import { AuthModule } from '../../auth/src/auth.module';
import { FilesModule, type FilesModuleOptions } from '../../files/src/files.module';
import { MetricsModule, type MetricsModuleOptions } from '../../metrics/src/metrics.module';
import { NodesModule } from '../../nodes/src/nodes.module';
import { PluginsModule, type PluginsModuleOptions } from '../../plugins/src/plugins.module';
import { IdentityBootstrap } from '../../users/src/bootstrap/identity-bootstrap';
import { UsersModule } from '../../users/src/users.module';
import { createGatewayApp, type GatewayApp } from '../src/gateway.app';
import { gatewayFeatures } from '../src/gateway.features';
import { DEFAULT_HEALTH_SERVICES } from '../src/health/health.controller';

export const STACK_ADMIN = { email: 'admin@stack.test', password: 'stack admin password' };

/** A real agent child process. */
export type StackAgent = AgentProcess;

/** The whole backend in one test: auth, users, nodes, the gateway with every feature, real agents. */
export interface Stack {
  env: TestEnv;
  smtp: SmtpCatcher;
  gateway: GatewayApp;
  /** The files service, unless StackOptions.files is false. */
  files?: INestMicroservice;
  /** The metrics service, unless StackOptions.metrics is false. */
  metrics?: INestMicroservice;
  /** The plugins service, when StackOptions.plugins is given. */
  plugins?: INestMicroservice;
  http(): ReturnType<typeof request>;
  adminToken(): Promise<string>;
  startAgent(token: string): StackAgent;
  waitFor<T>(what: string, probe: () => Promise<T | undefined | false | null>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/** Options of the stack; the defaults keep tests fast. */
export interface StackOptions {
  /** argon2id cost of auth. @default { memoryCost: 19456, timeCost: 2, parallelism: 1 } (OWASP's floor) */
  passwordHash?: { memoryCost: number; timeCost: number; parallelism: number };
  /** Options of the files service (issue 10); `false` leaves it out. @default {} */
  files?: Partial<Omit<FilesModuleOptions, 'nats' | 'databaseUrl'>> | false;
  /** Options of the plugins service (issue 13); left out unless given (its runners and sync are not free). */
  plugins?: StackPluginsOptions;
  /** Options of the metrics service (issue 12); `false` leaves it out. @default {} */
  metrics?: Partial<Omit<MetricsModuleOptions, 'nats' | 'databaseUrl'>> | false;
}

/** Options of the plugins service (issue 13), when a test wants it. */
export type StackPluginsOptions = Partial<Omit<PluginsModuleOptions, 'nats' | 'databaseUrl'>>;

export async function startStack(stackOptions: StackOptions = {}): Promise<Stack> {
  const env = await startTestEnv();
  const smtp = await startSmtpCatcher();
  const servers = env.nats.url;
  const services: INestMicroservice[] = [];
  const creds = (user: 'auth' | 'users' | 'nodes' | 'files' | 'metrics') => env.nats.creds(user);
  services.push(
    await startServiceApp(
      'auth',
      AuthModule.forRoot({
        nats: { servers, creds: await creds('auth') },
        databaseUrl: env.db.url,
        smtp: { host: smtp.host, port: smtp.port, from: 'Encedeus <no-reply@stack.test>' },
        passwordHash: stackOptions.passwordHash ?? { memoryCost: 19456, timeCost: 2, parallelism: 1 },
      }),
      { servers, creds: await creds('auth'), logger: ['error'] },
    ),
  );
  const users = await startServiceApp(
    'users',
    UsersModule.forRoot({ nats: { servers, creds: await creds('users') }, databaseUrl: env.db.url, adminEmail: STACK_ADMIN.email, adminPassword: STACK_ADMIN.password }),
    { servers, creds: await creds('users'), logger: ['error'] },
  );
  services.push(users);
  await users.get(IdentityBootstrap).ready;
  services.push(
    await startServiceApp(
      'nodes',
      NodesModule.forRoot({
        nats: { servers, creds: await creds('nodes') },
        databaseUrl: env.db.url,
        signer: env.nats.signer,
        publicNatsUrl: servers,
        liveness: { sweepMs: 200 },
      }),
      { servers, creds: await creds('nodes'), logger: ['error'] },
    ),
  );
  const filesOptions = stackOptions.files ?? {};
  const files = filesOptions
    ? await startServiceApp('files', FilesModule.forRoot({ ...filesOptions, nats: { servers, creds: await creds('files') }, databaseUrl: env.db.url }), {
        servers,
        creds: await creds('files'),
        logger: ['error'],
      })
    : undefined;
  if (files) services.push(files);
  const metricsOptions = stackOptions.metrics ?? {};
  const metrics = metricsOptions
    ? await startServiceApp('metrics', MetricsModule.forRoot({ ...metricsOptions, nats: { servers, creds: await creds('metrics') }, databaseUrl: env.db.url }), {
        servers,
        creds: await creds('metrics'),
        logger: ['error'],
      })
    : undefined;
  if (metrics) services.push(metrics);
  const plugins = stackOptions.plugins
    ? await startServiceApp(
        'plugins',
        PluginsModule.forRoot({
          dataDir: mkdtempSync(join(tmpdir(), 'encedeus-stack-plugins-')),
          ...stackOptions.plugins,
          // Tests' repositories are local (file://); production never allows them (docs/plugins.md).
          git: { allowLocalRepositories: true, ...stackOptions.plugins.git },
          nats: { servers, creds: await env.nats.creds('plugins') },
          databaseUrl: env.db.url,
        }),
        { servers, creds: await env.nats.creds('plugins'), logger: ['error'] },
      )
    : undefined;
  if (plugins) services.push(plugins);
  const options = {
    nats: { servers, creds: await env.nats.creds('gateway') },
    databaseUrl: env.db.url,
    signer: env.nats.signer,
    accountAdmin: env.nats.accountAdmin,
    logLevel: 'silent',
    // /health lists the plugins service when the stack runs it (main.ts: every deployed service).
    ...(plugins ? { services: [...DEFAULT_HEALTH_SERVICES, 'plugins' as const] } : {}),
  };
  const gateway = await createGatewayApp({ ...options, features: gatewayFeatures(options) }, 0, '127.0.0.1');
  const http = () => request(gateway.url);
  const agents: StackAgent[] = [];
  let admin: string | undefined;

  const stack: Stack = {
    env,
    smtp,
    gateway,
    files,
    metrics,
    plugins,
    http,
    async adminToken() {
      if (!admin) {
        const res = await http().post('/api/v1/auth/login').send(STACK_ADMIN);
        if (res.status !== 200) throw new Error(`admin login failed: ${res.status} ${JSON.stringify(res.body)}`);
        admin = res.body.accessToken as string;
      }
      return admin;
    },
    startAgent(token) {
      const dataDir = mkdtempSync(join(tmpdir(), 'encedeus-stack-agent-'));
      const agent = spawnAgent({ natsUrl: servers, dataDir, token, gatewayUrl: gateway.url, usageMs: Number(process.env.STACK_AGENT_USAGE_MS ?? 1000) });
      agents.push(agent);
      return agent;
    },
    waitFor(what, probe, timeoutMs = 20_000) {
      return pollUntil(what, probe, timeoutMs, () => agents.map((a) => a.output().slice(-2000)).join('\n')) as never;
    },
    async stop() {
      await stopAgents(agents);
      await gateway.close().catch(() => undefined);
      for (const s of services.reverse()) await s.close().catch(() => undefined);
      await smtp.stop().catch(() => undefined);
      await env.stop();
      for (const a of agents) removeAgentData(a.dataDir);
    },
  };
  return stack;
}
