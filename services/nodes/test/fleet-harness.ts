import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestMicroservice } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { CommandClient, EventStore, mintUserCreds, SERVICE_PERMISSIONS, startServiceApp } from '@encedeus/messaging';
import { startTestEnv, waitFor as pollUntil, type TestEnv } from '@encedeus/testing';
import type { Enrollment, NodeView, RecordedEvent, ServerView } from '@encedeus/contracts';
import type { NodesOptions } from '../src/nodes.options';
import { removeAgentData, spawnAgent, stopAgents, type AgentProcess } from '../../agent/test/fixtures/agent-process';
import { NodesModule } from '../src/nodes.module';

export type { AgentProcess };

/** Nodes service in-process on its own NATS + Postgres, a client as the gateway, helpers to run agents. */
export interface FleetHarness {
  env: TestEnv;
  app: INestMicroservice;
  client: CommandClient;
  admin: NatsConnection;
  store: EventStore;
  /** Every event of one aggregate's stream, in order (e.g. `events('server', id)`). */
  events(aggregate: string, id: string): Promise<RecordedEvent[]>;
  actor: string;
  send<T = any>(verb: string, data: unknown, timeoutMs?: number): Promise<T>;
  createNode(name?: string, memoryMb?: number): Promise<NodeView & { enrollment: Enrollment }>;
  startAgent(args: { token?: string; dataDir?: string; drivers?: string; agentEnv?: Record<string, string> }): AgentProcess;
  waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export async function startFleet(options: Partial<NodesOptions> = {}): Promise<FleetHarness> {
  const env = await startTestEnv();
  const creds = await env.nats.creds('nodes');
  const app = await startServiceApp(
    'nodes',
    NodesModule.forRoot({
      nats: { servers: env.nats.url, creds },
      databaseUrl: env.db.url,
      signer: env.nats.signer,
      publicNatsUrl: env.nats.url,
      liveness: { sweepMs: 100 },
      ...options,
    }),
    { servers: env.nats.url, creds, logger: process.env.DEBUG_NODES ? undefined : ['error'] },
  );
  const client = new CommandClient(await env.connect('gateway'), 30_000);
  const admin = await env.connect('admin');
  const store = await EventStore.create(admin, { service: 'test' });
  const actor = 'user:11111111-1111-4111-8111-111111111111';
  const agents: AgentProcess[] = [];
  const dirs: string[] = [];
  // No gateway here: agents trade their short token over NATS as a bootstrap user (only `cmd.nodes.enroll`).
  const bootstrapCreds = await mintUserCreds(env.nats.signer, 'agent-bootstrap-fleet-test', SERVICE_PERMISSIONS['agent-bootstrap'], { expiresInSeconds: 3600 });

  const harness: FleetHarness = {
    env,
    app,
    client,
    admin,
    store,
    async events(aggregate, id) {
      const all: RecordedEvent[] = [];
      for await (const r of store.readStream(`evt.${aggregate}.${id}`)) all.push(r);
      return all;
    },
    actor,
    send: (verb, data, timeoutMs) => client.send('nodes', verb, data, { actor }, { timeoutMs: timeoutMs ?? 30_000 }),
    createNode: (name = 'node-1', memoryMb = 4096) =>
      harness.send('create_node', { name, memory_mb: memoryMb, cpu_percent: 400, storage_size: '20G', tags: ['test'] }),
    startAgent({ token, dataDir, drivers = 'process', agentEnv = {} }) {
      const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'encedeus-agent-'));
      if (!dataDir) dirs.push(dir);
      const agent = spawnAgent({ natsUrl: env.nats.url, dataDir: dir, token, bootstrapCreds, drivers, env: agentEnv });
      agents.push(agent);
      return agent;
    },
    waitFor(what, probe, timeoutMs = 20_000) {
      return pollUntil(what, probe, timeoutMs, () => agents.map((a, i) => `--- agent ${i} (exit ${a.child.exitCode}):\n${a.output().slice(-3000)}`).join('\n')) as never;
    },
    async stop() {
      await stopAgents(agents);
      await app.close().catch(() => undefined);
      await env.stop();
      for (const d of new Set([...dirs, ...agents.map((a) => a.dataDir)])) removeAgentData(d);
    },
  };
  return harness;
}

export const NODE_ECHO_TEMPLATE = '00000000-0000-4000-8000-000000000001';

/** A node created over NATS with a real agent enrolled on it and online with its spec. */
export async function enrolledNode(h: FleetHarness, name = 'node-a'): Promise<{ nodeId: string; agent: AgentProcess; token: string; command: string }> {
  const node = await h.createNode(name);
  const agent = h.startAgent({ token: node.enrollment.token });
  await h
    .waitFor('node online with spec', async () => {
      const n = await h.send('get_node', { id: node.id });
      return n.state === 'online' && n.spec ? n : undefined;
    }, 60_000)
    .catch((e) => {
      throw new Error(`${e.message}\nagent output:\n${agent.output()}`);
    });
  return { nodeId: node.id, agent, token: node.enrollment.token, command: node.enrollment.command };
}

/** Reads a server and waits for one of its states. */
export function serverProbes(h: FleetHarness) {
  const server = (id: string) => h.send<ServerView>('get_server', { id });
  const waitState = (id: string, state: string, ms = 15_000) =>
    h.waitFor(`server ${state}`, async () => ((await server(id)).state === state ? true : undefined), ms);
  return { server, waitState };
}
export const PYTHON_ECHO_TEMPLATE = '00000000-0000-4000-8000-000000000002';
