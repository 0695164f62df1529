import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestMicroservice } from '@nestjs/common';
import { JSONCodec } from 'nats';
import request from 'supertest';
import { startServiceApp } from '@encedeus/messaging';
import { startSmtpCatcher, startTestEnv, waitFor as pollUntil, type SmtpCatcher, type TestEnv } from '@encedeus/testing';
import { spawnTsNode } from '../../agent/test/fixtures/ts-node-process';
import { AuthModule } from '../../auth/src/auth.module';
import { NodesModule } from '../../nodes/src/nodes.module';
import { IdentityBootstrap } from '../../users/src/bootstrap/identity-bootstrap';
import { UsersModule } from '../../users/src/users.module';
import { createGatewayApp, type GatewayApp } from '../src/gateway.app';
import { gatewayFeatures } from '../src/gateway.features';

export const REPLICAS_ADMIN = { email: 'admin@replicas.test', password: 'replicas admin password' };

/** The services that run as replicas behind the gateways. */
export const REPLICATED = ['auth', 'users', 'nodes'] as const;
export type ReplicatedService = (typeof REPLICATED)[number];

/** One instance of a service: a Nest app in this process, or a child process that `kill -9` ends for real. */
export interface ServiceInstance {
  service: ReplicatedService;
  /** `users#1`, `users#2`. */
  name: string;
  /** The child's pid; undefined for an in-process instance. */
  pid?: number;
  /** Last 20 kB of a child's output. */
  output(): string;
  /** SIGKILL for a child (no shutdown hooks run); close() for an in-process app. */
  kill(): Promise<void>;
}

/** Two gateways and two instances of every service on one NATS and one database. */
export interface ReplicaStack {
  env: TestEnv;
  gateways: GatewayApp[];
  instances: Record<ReplicatedService, ServiceInstance[]>;
  http(gateway: number): ReturnType<typeof request>;
  adminToken(): Promise<string>;
  waitFor<T>(what: string, probe: () => Promise<T | undefined | false | null>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export interface ReplicaStackOptions {
  /** Services whose first instance is a child process (`services/<name>/src/main.ts`), started before the second. @default none */
  children?: ReplicatedService[];
  /** Nodes' `fleet-liveness` lease. @default the service's default */
  livenessLease?: { ttlMs?: number; renewMs?: number };
}

const json = JSONCodec<any>();
const trace = (message: string) => process.env.DEBUG_REPLICAS && console.log(`[replicas] ${new Date().toISOString()} ${message}`);

export async function startReplicaStack(options: ReplicaStackOptions = {}): Promise<ReplicaStack> {
  const env = await startTestEnv();
  const smtp: SmtpCatcher = await startSmtpCatcher();
  const servers = env.nats.url;
  const apps: INestMicroservice[] = [];
  const children: ChildProcess[] = [];
  const instances = { auth: [], users: [], nodes: [] } as Record<ReplicatedService, ServiceInstance[]>;
  const dir = mkdtempSync(join(tmpdir(), 'encedeus-replicas-'));
  const childEnv: Record<string, string> = {
    NATS_URL: servers,
    NATS_CREDS_DIR: join(dir, 'creds'),
    NATS_SIGNER_FILE: join(dir, 'account-signer.json'),
    NATS_STREAM_REPLICAS: '1',
    DATABASE_URL: env.db.url,
    SMTP_HOST: smtp.host,
    SMTP_PORT: String(smtp.port),
    ENCEDEUS_ADMIN_EMAIL: REPLICAS_ADMIN.email,
    ENCEDEUS_ADMIN_PASSWORD: REPLICAS_ADMIN.password,
    DATA_DIR: dir,
    LOG_LEVEL: 'warn',
  };
  if (options.children?.length) {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(childEnv.NATS_CREDS_DIR, { recursive: true });
    for (const user of ['auth', 'users', 'nodes', 'gateway'] as const) writeFileSync(join(childEnv.NATS_CREDS_DIR, `${user}.creds`), await env.nats.creds(user), { mode: 0o600 });
    writeFileSync(childEnv.NATS_SIGNER_FILE, JSON.stringify(env.nats.signer), { mode: 0o600 });
  }
  const admin = await env.connect('admin');

  /** True once some instance of `service` answers `cmd.<service>.health` with status up. */
  const answers = async (service: ReplicatedService) => {
    const subject = `cmd.${service}.health`;
    const msg = await admin.request(subject, json.encode({ pattern: subject, data: {}, id: randomUUID() }), { timeout: 2000 });
    return json.decode(msg.data).response?.status === 'up';
  };

  const stack: ReplicaStack = {
    env,
    gateways: [],
    instances,
    http: (i) => request(stack.gateways[i].url),
    async adminToken() {
      const res = await stack.http(0).post('/api/v1/auth/login').send(REPLICAS_ADMIN);
      if (res.status !== 200) throw new Error(`admin login failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.accessToken as string;
    },
    waitFor(what, probe, timeoutMs = 20_000) {
      const outputs = () => Object.values(instances).flat().filter((i) => i.pid).map((i) => `${i.name}:\n${i.output().slice(-1500)}`).join('\n');
      return pollUntil(what, probe, timeoutMs, outputs) as never;
    },
    async stop() {
      for (const g of stack.gateways) await g.close().catch(() => undefined);
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      for (const a of apps.reverse()) await a.close().catch(() => undefined);
      await smtp.stop().catch(() => undefined);
      await env.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };

  const startChild = async (service: ReplicatedService): Promise<void> => {
    const child = spawnTsNode(`services/${service}/src/main.ts`, [], childEnv);
    children.push(child);
    let out = '';
    const keep = (chunk: Buffer) => (out = (out + chunk).slice(-20_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    instances[service].push({
      service,
      name: `${service}#${instances[service].length + 1}`,
      pid: child.pid,
      output: () => out,
      async kill() {
        child.kill('SIGKILL');
        await exited;
      },
    });
  };

  const startInProcess = async (service: ReplicatedService): Promise<void> => {
    const nats = { servers, creds: await env.nats.creds(service) };
    const module =
      service === 'auth'
        ? AuthModule.forRoot({ nats, databaseUrl: env.db.url, smtp: { host: smtp.host, port: smtp.port, from: 'Encedeus <no-reply@replicas.test>' }, passwordHash: { memoryCost: 19456, timeCost: 2, parallelism: 1 } })
        : service === 'users'
          ? UsersModule.forRoot({ nats, databaseUrl: env.db.url, adminEmail: REPLICAS_ADMIN.email, adminPassword: REPLICAS_ADMIN.password })
          : NodesModule.forRoot({ nats, databaseUrl: env.db.url, signer: env.nats.signer, publicNatsUrl: servers, liveness: { sweepMs: 200 }, ...(options.livenessLease ? { livenessLease: options.livenessLease } : {}) });
    trace(`starting ${service}#${instances[service].length + 1}`);
    const app = await startServiceApp(service, module, { ...nats, logger: process.env.DEBUG_REPLICAS ? ['error', 'warn', 'log'] : ['error'] });
    apps.push(app);
    if (service === 'users') await app.get(IdentityBootstrap).ready;
    trace(`started ${service}#${instances[service].length + 1}`);
    instances[service].push({
      service,
      name: `${service}#${instances[service].length + 1}`,
      output: () => '',
      async kill() {
        await app.close();
      },
    });
  };

  try {
    // Children first, alone until they answer, so each holds whatever lease its service takes. They
    // boot together (ts-node compiles each for tens of seconds); a users child retries its first-admin
    // bootstrap until auth answers.
    for (const service of options.children ?? []) await startChild(service);
    await Promise.all((options.children ?? []).map((service) => stack.waitFor(`${service} child answering`, () => answers(service), 120_000)));
    trace('children answer');
    // One instance after the other, users after auth (its first admin needs auth's credentials).
    for (const service of ['auth', 'users', 'nodes'] as const) {
      while (instances[service].length < 2) await startInProcess(service);
    }
    for (let i = 0; i < 2; i++) {
      const gatewayOptions = { nats: { servers, creds: await env.nats.creds('gateway') }, databaseUrl: env.db.url, signer: env.nats.signer, accountAdmin: env.nats.accountAdmin, logLevel: 'silent' };
      stack.gateways.push(await createGatewayApp({ ...gatewayOptions, features: gatewayFeatures(gatewayOptions) }, 0, '127.0.0.1'));
    }
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}
