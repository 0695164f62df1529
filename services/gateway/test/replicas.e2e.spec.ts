import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import { STREAMS } from '@encedeus/contracts';
import { startReplicaStack, type ReplicaStack } from './replicas-harness';

const run = promisify(execFile);

/**
 * Issue 9's acceptance with replicas: two gateways and two instances of every service (in this
 * process, each with its own NATS connection, so NATS queue groups spread the commands between them
 * as between pods) on one NATS and one database. A write is readable at once through the gateway
 * that wrote it, through the other within 2 s, and every push reaches a client of either gateway.
 */
describe('two gateways and two instances of every service', () => {
  let stack: ReplicaStack;
  let admin: string;
  const as = () => `Bearer ${admin}`;
  const run_ = Date.now().toString(36);

  beforeAll(async () => {
    stack = await startReplicaStack();
    admin = await stack.adminToken();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('serves 40 writes alternating gateways: each readable at once where written, within 2 s on the other gateway, pushed to clients of both', async () => {
    const sockets = await Promise.all(stack.gateways.map((g) => eventsClient(g.url, admin)));
    const jsm = await (await stack.env.connect('admin')).jetstreamManager();
    const before = (await jsm.streams.info(STREAMS.events)).state.last_seq;
    const writes: { gateway: number; path: string; version: number; ms: number }[] = [];

    try {
      for (let i = 0; i < 40; i++) {
        const gateway = i % 2;
        const previous = writes[i - 1];
        const started = Date.now();
        const res =
          i % 4 === 0 ? await stack.http(gateway).post('/api/v1/roles').set('Authorization', as()).send({ name: `replica-role-${run_}-${i}`, permissions: ['nodes.read'] })
          : i % 4 === 1 ? await stack.http(gateway).patch(previous.path).set('Authorization', as()).send({ permissions: ['nodes.read', 'templates.read'] })
          : i % 4 === 2 ? await stack.http(gateway).post('/api/v1/templates').set('Authorization', as()).send({ name: `replica-template-${run_}-${i}`, driver: 'process', startup: 'echo hi' })
          : await stack.http(gateway).patch(previous.path).set('Authorization', as()).send({ description: `changed by write ${i}` });
        const ms = Date.now() - started;
        expect([i, res.status, res.body]).toEqual([i, i % 2 === 0 ? 201 : 200, expect.objectContaining({ version: expect.any(Number) })]);
        const path = i % 2 === 0 ? `/api/v1/${i % 4 === 0 ? 'roles' : 'templates'}/${res.body.id}` : previous.path;
        writes.push({ gateway, path, version: res.body.version, ms });

        const here = await stack.http(gateway).get(path).set('Authorization', as());
        expect([i, 'here', here.status, here.body.version]).toEqual([i, 'here', 200, res.body.version]);
      }
      await Promise.all(
        writes.map(({ gateway, path, version }, i) =>
          stack.waitFor(`write ${i} (${path} v${version}) through the other gateway`, async () => {
            const there = await stack.http(1 - gateway).get(path).set('Authorization', as());
            return there.status === 200 && there.body.version >= version;
          }, 2000),
        ),
      );
      // No write waited for the other replica's projection (that took 3–5 s before issue 9).
      expect(writes.filter((w) => w.ms > 2500)).toEqual([]);

      const after = (await jsm.streams.info(STREAMS.events)).state.last_seq;
      expect(after - before).toBeGreaterThanOrEqual(40);
      const expected = Array.from({ length: after - before }, (_, k) => before + 1 + k);
      for (const [g, socket] of sockets.entries()) {
        await stack.waitFor(`every push on gateway ${g}`, async () => expected.every((seq) => socket.sequences.has(seq)), 5000);
      }
    } finally {
      for (const s of sockets) s.socket.close();
    }
  }, 120_000);

  it('creates a role name sent through both gateways at once exactly once (one 201, one 409), five times', async () => {
    const outcomes: number[][] = [];
    const names = Array.from({ length: 5 }, (_, k) => `same-name-${run_}-${k}`);
    const roleNames = async (gateway: number) => {
      const list = await stack.http(gateway).get('/api/v1/roles').query({ limit: 200 }).set('Authorization', as());
      return (list.body.items ?? list.body.data ?? list.body).map((r: { name: string }) => r.name).filter((n: string) => n.startsWith(`same-name-${run_}-`));
    };
    for (const name of names) {
      const results = await Promise.all(
        [0, 1].map((g) => stack.http(g).post('/api/v1/roles').set('Authorization', as()).send({ name, permissions: ['nodes.read'] })),
      );
      outcomes.push(results.map((r) => r.status).sort());
      // Read-your-writes holds on the gateway that answered 201, at once.
      const writer = results.findIndex((r) => r.status === 201);
      if (writer >= 0) expect([name, (await roleNames(writer)).includes(name)]).toEqual([name, true]);
    }

    expect(outcomes).toEqual(Array.from({ length: 5 }, () => [201, 409]));
    // The other gateway's projection follows within the 2 s of the first test's contract.
    for (const gateway of [0, 1]) {
      await stack.waitFor(`all five names on gateway ${gateway}`, async () => (await roleNames(gateway)).sort().join() === names.join(), 2000);
    }
  }, 60_000);

  it('answers the container health check (infra/docker/healthcheck.js) for every service and gateway', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'encedeus-healthcheck-'));
    try {
      const creds = join(dir, 'gateway.creds');
      writeFileSync(creds, await stack.env.nats.creds('gateway'), { mode: 0o600 });
      const check = (service: string, extra: Record<string, string> = {}) =>
        run(process.execPath, ['infra/docker/healthcheck.js'], { env: { ...process.env, SERVICE: service, NATS_URL: stack.env.nats.url, HEALTHCHECK_CREDS: creds, ...extra }, timeout: 15_000 })
          .then((r) => r.stdout.trim(), (e) => `failed: ${e.stderr ?? e.message}`);

      const results = await Promise.all([check('auth'), check('users'), check('nodes'), ...stack.gateways.map((g) => check('gateway', { PORT: new URL(g.url).port }))]);

      expect(results).toEqual(['auth: up', 'users: up', 'nodes: up', 'gateway: 200', 'gateway: 200']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

/** A socket.io client in the `events` room that records the stream sequence of every pushed event. */
async function eventsClient(url: string, token: string): Promise<{ socket: Socket; sequences: Set<number> }> {
  const socket = io(url, { path: '/socket.io', transports: ['websocket'], auth: { token } });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const sequences = new Set<number>();
  socket.on('event', (e: { sequence: number }) => sequences.add(e.sequence));
  const ack = await socket.emitWithAck('subscribe', { room: 'events' });
  if (ack && ack.ok === false) throw new Error(`subscribe events: ${JSON.stringify(ack)}`);
  return { socket, sequences };
}
