import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import type { NatsConnection } from 'nats';
import { accountSigner, connectNats, mintUserCreds, SERVICE_PERMISSIONS, type OperatorBundle } from '@encedeus/messaging';
import type { PostgresServer } from '@encedeus/testing';
import { allConditions, figures, setBenchEnv, type BenchEnv, type MachineInfo } from './harness';

/**
 * Runs one `*.bench.ts` in a process of its own (bench/run.ts spawns it), so a bench that hangs
 * can be killed with everything it started and cannot slow the next one down. bench/run.ts owns
 * the nats-server and the database; this process only connects to them.
 */
export interface ChildSpec {
  file: string;
  nats: { url: string; port: number; bundle: OperatorBundle };
  postgres: { adminUrl: string; kind: PostgresServer['kind'] };
  db: { url: string; name: string };
  machine: MachineInfo;
  /** Where the figures and conditions go, as JSON. */
  out: string;
}

export interface ChildResult {
  figures: ReturnType<typeof figures>;
  conditions: [string, string[]][];
  error?: string;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.BENCH_CHILD ?? '') as ChildSpec;
  const signer = accountSigner(spec.nats.bundle);
  const connections: NatsConnection[] = [];
  const env: BenchEnv = {
    nats: {
      url: spec.nats.url,
      port: spec.nats.port,
      bundle: spec.nats.bundle,
      signer,
      creds: (user) => mintUserCreds(signer, user, SERVICE_PERMISSIONS[user]),
      stop: async () => undefined,
    },
    postgres: { adminUrl: spec.postgres.adminUrl, kind: spec.postgres.kind, stop: async () => undefined },
    db: { url: spec.db.url, name: spec.db.name, drop: async () => undefined },
    machine: spec.machine,
    async connect(user = 'admin', name = `bench-${user}`) {
      const { nc } = await connectNats({ servers: spec.nats.url, creds: await mintUserCreds(signer, user, SERVICE_PERMISSIONS[user]), name });
      connections.push(nc);
      return nc;
    },
  };
  setBenchEnv(env);
  let error: string | undefined;
  try {
    const mod = require(spec.file) as { run?: () => Promise<void> };
    if (typeof mod.run !== 'function') throw new Error(`${spec.file} exports no run()`);
    await mod.run();
  } catch (e) {
    console.error(`  ✗ ${spec.file} failed:`, e);
    error = (e as Error)?.message ?? String(e);
  }
  const result: ChildResult = { figures: figures(), conditions: [...allConditions()], error };
  writeFileSync(spec.out, JSON.stringify(result));
  await Promise.race([Promise.all(connections.map((nc) => nc.close().catch(() => undefined))), new Promise((r) => setTimeout(r, 2000))]);
  // Nest apps, pools and timers a bench left behind must not keep this process alive.
  process.exit(error ? 1 : 0);
}

void main();
