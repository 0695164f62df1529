import { randomUUID } from 'node:crypto';
import { JSONCodec, type KV, type NatsConnection } from 'nats';
import { STREAMS, Subjects } from '@encedeus/contracts';
import { REPLICATED, startReplicaStack, type ReplicaStack } from './replicas-harness';

type Kind = 'role' | 'template' | 'user';

/** One command of the load: sent with an Idempotency-Key, retried with the same key and body on 503. */
interface Sent {
  kind: Kind;
  key: string;
  name: string;
  status: number;
  id?: string;
  attempts: number;
  body?: unknown;
}

const json = JSONCodec<any>();

/**
 * Issue 9's acceptance: `kill -9` one instance of each service in turn (auth, users, nodes; each a
 * child process running its main.ts) under a constant load of commands through both gateways, each
 * with an Idempotency-Key and retried by the client on 503. Nothing is lost (every command ends 201
 * and its aggregate exists), nothing is applied twice (one `*.created` event per aggregate and one
 * aggregate per command in the EVENTS stream), and the nodes leases move to the survivor within 10 s:
 * a node whose heartbeats stop when the sweeping replica dies is declared offline within 10 s.
 */
describe('kill -9 of one instance of each service under load', () => {
  let stack: ReplicaStack;
  let admin: string;
  let nc: NatsConnection;
  const run = Date.now().toString(36);

  beforeAll(async () => {
    stack = await startReplicaStack({ children: ['auth', 'users', 'nodes'] });
    admin = await stack.adminToken();
    nc = await stack.env.connect('admin');
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('loses nothing, applies nothing twice, and hands liveness and timers to the survivor within 10 s', async () => {
    const leases = await nc.jetstream().views.kv('leases', { bindOnly: true });
    const child = stack.instances.nodes[0];
    // The child started alone, so it took both leases (holder ids carry the pid).
    for (const name of ['fleet-liveness', 'fleet-timers']) {
      await stack.waitFor(`${name} held by the nodes child`, async () => (await holder(leases, name))?.includes(`-${child.pid}-`), 15_000);
    }
    // A node kept online by heartbeats sent from here (what an agent sends): once the sweeping
    // replica is killed and the heartbeats stop, only the survivor can declare it offline.
    const nodeRes = await stack.http(0).post('/api/v1/nodes').set('Authorization', `Bearer ${admin}`).send({ name: `kill-node-${run}`, memory_mb: 1024, cpu_percent: 100, storage_size: '1G' });
    expect(nodeRes.status).toBe(201);
    const nodeId: string = nodeRes.body.id;
    let seq = 0;
    const beat = () => nc.publish(Subjects.agentHeartbeat(nodeId), json.encode({ at: Date.now(), seq: seq++, interval_ms: 300, version: 'test' }));
    const heartbeats = setInterval(beat, 300);
    const nodeState = async () => (await stack.http(1).get(`/api/v1/nodes/${nodeId}`).set('Authorization', `Bearer ${admin}`)).body.state as string;
    await stack.waitFor('node online', async () => (await nodeState()) === 'online', 15_000);
    const before = (await (await nc.jetstreamManager()).streams.info(STREAMS.events)).state.last_seq;

    const sent: Sent[] = [];
    let stop = false;
    let n = 0;
    const worker = async (w: number) => {
      while (!stop) {
        const i = n++;
        sent.push(await command(stack, admin, (['role', 'template', 'user'] as const)[i % 3], `${run}-${w}-${i}`, i % 2));
      }
    };
    const workers = [0, 1, 2].map(worker);
    const takeovers: Record<string, number> = {};
    try {
      for (const service of REPLICATED) {
        await new Promise((r) => setTimeout(r, 1500));
        const killed = stack.instances[service][0];
        const at = Date.now();
        await killed.kill();
        if (service === 'nodes') {
          clearInterval(heartbeats);
          // The event, not GET's state: a replica that does not sweep answers from its own deadlines.
          await stack.waitFor('node.went_offline appended by the survivor', async () => (await lastEventType(nc, `evt.node.${nodeId}`)) === 'node.went_offline', 10_000);
          takeovers['node offline'] = Date.now() - at;
          for (const name of ['fleet-liveness', 'fleet-timers']) {
            await stack.waitFor(`${name} taken over`, async () => {
              const h = await holder(leases, name);
              return h !== undefined && !h.includes(`-${killed.pid}-`);
            }, 10_000);
            takeovers[name] = Date.now() - at;
          }
        }
      }
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      clearInterval(heartbeats);
      stop = true;
      await Promise.all(workers);
    }

    // Nothing lost: every command ended 201 (after retries on 503 only).
    expect(sent.length).toBeGreaterThanOrEqual(15);
    expect(sent.filter((s) => s.status !== 201).map(({ kind, key, status, body }) => ({ kind, key, status, body }))).toEqual([]);
    expect(takeovers['fleet-liveness']).toBeLessThan(10_000);
    expect(takeovers['fleet-timers']).toBeLessThan(10_000);
    expect(takeovers['node offline']).toBeLessThan(10_000);

    // Nothing applied twice: one created event per aggregate, one aggregate per command.
    const after = (await (await nc.jetstreamManager()).streams.info(STREAMS.events)).state.last_seq;
    const created = await createdEvents(nc, before + 1, after);
    for (const kind of ['role', 'template', 'user'] as const) {
      const ours = sent.filter((s) => s.kind === kind);
      const ids = created.filter((e) => e.type === `${kind}.created` && ours.some((s) => e.name === s.name)).map((e) => e.id);
      expect([kind, ids.sort()]).toEqual([kind, ours.map((s) => s.id!).sort()]);
    }

    // The sagas the killed instances were part of went on: every user created under load can log in.
    let refused = sent.filter((s) => s.kind === 'user');
    const deadline = Date.now() + 20_000;
    let answers: unknown[] = [];
    while (refused.length > 0 && Date.now() < deadline) {
      const logins = await Promise.all(refused.map((u) => stack.http(0).post('/api/v1/auth/login').send({ username: u.name, password: `${u.name}-password` })));
      answers = refused.map((u, i) => ({ name: u.name, attempts: u.attempts, status: logins[i].status, code: logins[i].body?.code }));
      refused = refused.filter((_, i) => logins[i].status !== 200);
      if (refused.length > 0) await new Promise((r) => setTimeout(r, 500));
    }
    if (refused.length > 0) console.error(`replicas-kill: users refused at login\n${JSON.stringify(await credentialsOf(stack, refused.map((u) => u.name)), null, 1)}`);
    expect(answers.filter((a: any) => a.status !== 200)).toEqual([]);
    console.log(`replicas-kill: ${sent.length} commands, ${sent.filter((s) => s.attempts > 1).length} retried on 503; lease takeover ${JSON.stringify(takeovers)} ms`);
  }, 150_000);
});

/** Sends one create command with an Idempotency-Key, retrying it (same key, same body, the other gateway) on 503. */
async function command(stack: ReplicaStack, admin: string, kind: Kind, suffix: string, gateway: number): Promise<Sent> {
  const key = randomUUID();
  const name = `kill-${kind}-${suffix}`;
  const [path, body] =
    kind === 'role' ? ['/api/v1/roles', { name, permissions: ['nodes.read'] }]
    : kind === 'template' ? ['/api/v1/templates', { name, driver: 'process', startup: 'echo hi' }]
    : ['/api/v1/users', { name, email: `${name}@kill.test`, password: `${name}-password` }];
  for (let attempt = 1; ; attempt++) {
    const res = await stack.http((gateway + attempt - 1) % 2).post(path).set('Authorization', `Bearer ${admin}`).set('Idempotency-Key', key).send(body);
    if (res.status === 503 && attempt < 20) {
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    return { kind, key, name, status: res.status, id: res.body?.id, attempts: attempt, body: res.status === 201 ? undefined : res.body };
  }
}

/** What auth holds for these users, and how far auth's projections got (printed when a login fails). */
async function credentialsOf(stack: ReplicaStack, names: string[]): Promise<unknown> {
  const { Client } = await import('pg');
  const pg = new Client({ connectionString: stack.env.db.url });
  await pg.connect();
  try {
    const credentials = (await pg.query('select name, confirmed_at, updated_at from auth.credentials where name = any($1)', [names])).rows;
    const checkpoints = (await pg.query('select * from auth.projection_checkpoints')).rows;
    return { credentials, checkpoints };
  } catch (error) {
    return (error as Error).message;
  } finally {
    await pg.end();
  }
}

async function lastEventType(nc: NatsConnection, subject: string): Promise<string | undefined> {
  const m = await (await nc.jetstreamManager()).streams.getMessage(STREAMS.events, { last_by_subj: subject }).catch(() => undefined);
  return m?.json<{ type: string }>().type;
}

async function holder(leases: KV, name: string): Promise<string | undefined> {
  const entry = await leases.get(`nodes.${name}`);
  if (!entry || entry.operation !== 'PUT' || entry.value.length === 0) return undefined;
  return (json.decode(entry.value) as { holder?: string }).holder;
}

/** The `*.created` events appended between two stream sequences, with their aggregate id and name. */
async function createdEvents(nc: NatsConnection, from: number, to: number): Promise<{ type: string; id: string; name: string }[]> {
  const jsm = await nc.jetstreamManager();
  const out: { type: string; id: string; name: string }[] = [];
  for (let seq = from; seq <= to; seq++) {
    const m = await jsm.streams.getMessage(STREAMS.events, { seq }).catch(() => undefined);
    if (!m) continue;
    const event = m.json<{ type: string; data?: { name?: string } }>();
    if (!/\.created$/.test(event.type)) continue;
    out.push({ type: event.type, id: m.subject.split('.').slice(2).join('.'), name: event.data?.name ?? '' });
  }
  return out;
}
