import { Module, type DynamicModule } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { JSONCodec, type Msg, type NatsConnection } from 'nats';
import { io as connectSocket, type Socket as ClientSocket } from 'socket.io-client';
import {
  DomainError,
  event,
  JobCancelled,
  JobCreated,
  JobFinished,
  JobStarted,
  NodeCameOnline,
  NodeWentOffline,
  ServerRunning,
  Subjects,
  UnauthenticatedError,
  UserUpdated,
  type Permission,
} from '@encedeus/contracts';
import { EventStore } from '@encedeus/messaging';
import { PRINCIPAL_RESOLVER, type Principal, type PrincipalResolver } from '@encedeus/security';
import { startTestEnv, type TestEnv } from '@encedeus/testing';
import { createGatewayApp, type GatewayApp } from '../src/gateway.app';
import { RealtimeModule } from '../src/realtime/realtime.module';
import { RealtimeServer } from '../src/realtime/realtime.server';

interface Issued {
  principal: Principal;
  revoked: boolean;
}

/**
 * Tokens for these tests: each `issue()` returns an opaque token for a principal that can expire,
 * be revoked or lose permissions. Only identity is isolated; NATS, Postgres, HTTP and socket.io
 * are real.
 */
class TestTokens implements PrincipalResolver {
  private readonly issued = new Map<string, Issued>();

  /** @param ttlMs token lifetime; none: the token does not expire (like an API key) */
  issue(userId: string, permissions: Permission[], ttlMs?: number): string {
    const token = `test-${randomUUID()}`;
    const principal: Principal = {
      kind: 'user',
      userId,
      actor: `user:${userId}`,
      permissions: new Set(permissions),
      ...(ttlMs === undefined ? {} : { expiresAt: (Date.now() + ttlMs) / 1000 }),
    };
    this.issued.set(token, { principal, revoked: false });
    return token;
  }

  /** The principal of a token: the same object the resolver hands out, so a change shows at once. */
  principal(token: string): Principal {
    return this.issued.get(token)!.principal;
  }

  revoke(token: string): void {
    this.issued.get(token)!.revoked = true;
  }

  async resolve(authorization: string | undefined): Promise<Principal | null> {
    if (!authorization) return null;
    const entry = this.issued.get(authorization.replace(/^Bearer\s+/i, ''));
    if (!entry || entry.revoked) throw new UnauthenticatedError('The token is unknown or revoked');
    const { expiresAt } = entry.principal;
    if (expiresAt !== undefined && expiresAt * 1000 <= Date.now()) throw new DomainError('TOKEN_EXPIRED', 'The token has expired');
    return entry.principal;
  }
}

function tokensModule(tokens: TestTokens): DynamicModule {
  @Module({})
  class TestTokensModule {}
  return { module: TestTokensModule, providers: [{ provide: PRINCIPAL_RESOLVER, useValue: tokens }], exports: [PRINCIPAL_RESOLVER], global: true };
}

const json = JSONCodec<any>();

/**
 * The nodes service as far as the gateway talks to it, over real NATS in Nest's reply format:
 * get_server answers owners, run_job records a job (`code: "print"` finishes at once, anything
 * else runs until cancel_job), server_command accepts.
 */
class FakeNodes {
  readonly requests: { verb: string; data: any }[] = [];
  readonly owners = new Map<string, string>();
  /** The node every server here is placed on (telemetry from other nodes is dropped). */
  nodeId = '';

  constructor(private readonly nc: NatsConnection, private readonly store: EventStore) {}

  start(): void {
    this.nc.subscribe('cmd.nodes.>', { callback: (_err, msg) => void this.handle(msg) });
  }

  private async handle(msg: Msg): Promise<void> {
    const verb = msg.subject.split('.')[2];
    const { data, id } = json.decode(msg.data);
    this.requests.push({ verb, data });
    const reply = (response: unknown) => void msg.respond(json.encode({ id, response, isDisposed: true }));
    const fail = (code: string, error: string) => void msg.respond(json.encode({ id, err: { code, error }, isDisposed: true }));
    const meta = { actor: 'service:nodes' };
    switch (verb) {
      case 'get_server': {
        const owner = this.owners.get(data.id);
        return owner ? reply({ id: data.id, owner_id: owner, node_id: this.nodeId, state: 'running' }) : fail('NOT_FOUND', `Server ${data.id} was not found`);
      }
      case 'run_job': {
        const jobId = randomUUID();
        const created = event(JobCreated, { runtime: data.runtime, code: data.code, timeout_ms: data.timeout_ms, memory_mb: data.memory_mb, node_id: randomUUID(), owner_id: 'u' });
        await this.store.append('job', jobId, 'any', [created, event(JobStarted, {})], meta);
        reply({ id: jobId, status: 'queued' });
        if (data.code === 'print') {
          await this.store.append('job', jobId, 'any', [event(JobFinished, { status: 'succeeded', stdout: 'hello\nworld\n', stderr: 'warn\n', exit_code: 0, execution_time_ms: 12 })], meta);
        }
        return;
      }
      case 'cancel_job':
        await this.store.append('job', data.id, 'any', [event(JobCancelled, {}), event(JobFinished, { status: 'cancelled', stdout: '', stderr: '', exit_code: null, execution_time_ms: 40 })], meta);
        return reply({ id: data.id, status: 'cancelled' });
      case 'server_command':
        return reply({ sent: true });
      default:
        return fail('NOT_FOUND', `no ${verb}`);
    }
  }
}

/** A connected client that records everything it receives. */
interface Client {
  socket: ClientSocket;
  received: { event: string; data: any; at: number }[];
  /** Resolves with the next (or an already received, unconsumed) matching message. */
  next(event: string, match?: (data: any) => boolean, timeoutMs?: number): Promise<any>;
  all(event: string): any[];
}

function connectClient(url: string, token?: string): Promise<Client> {
  const socket = connectSocket(url, { path: '/socket.io', transports: ['websocket'], auth: token === undefined ? {} : { token }, reconnection: false, forceNew: true });
  const received: Client['received'] = [];
  const waiters: { event: string; match: (d: any) => boolean; resolve: (d: any) => void }[] = [];
  const seen = new Set<object>();
  const record = (ev: string, data: any) => {
    const entry = { event: ev, data, at: Date.now() };
    received.push(entry);
    const w = waiters.findIndex((w) => w.event === ev && w.match(data));
    if (w >= 0) {
      seen.add(entry);
      waiters.splice(w, 1)[0].resolve(data);
    }
  };
  socket.onAny((ev, data) => record(ev, data));
  socket.on('disconnect', (reason) => record('disconnect', reason));
  const client: Client = {
    socket,
    received,
    all: (ev) => received.filter((r) => r.event === ev).map((r) => r.data),
    next(ev, match = () => true, timeoutMs = 5000) {
      const earlier = received.find((r) => r.event === ev && !seen.has(r) && match(r.data));
      if (earlier) {
        seen.add(earlier);
        return Promise.resolve(earlier.data);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${ev} within ${timeoutMs} ms; got ${received.map((r) => r.event).join(', ')}`)), timeoutMs);
        waiters.push({ event: ev, match, resolve: (d) => (clearTimeout(timer), resolve(d)) });
      });
    },
  };
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(client));
    socket.once('connect_error', (error) => reject(error));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('realtime gateway (socket.io)', () => {
  let env: TestEnv;
  let a: GatewayApp;
  let b: GatewayApp;
  let nc: NatsConnection;
  let store: EventStore;
  let nodes: FakeNodes;
  const tokens = new TestTokens();
  const clients: Client[] = [];
  const client = async (url: string, token?: string) => {
    const c = await connectClient(url, token);
    clients.push(c);
    return c;
  };
  const nodeId = randomUUID();
  const ownServer = randomUUID();
  const otherServer = randomUUID();
  const admin: Permission[] = ['nodes.read', 'servers.read', 'servers.console', 'events.read', 'jobs.run'];

  const startGateway = async () =>
    createGatewayApp(
      {
        nats: { servers: env.nats.url, creds: await env.nats.creds('gateway') },
        databaseUrl: env.db.url,
        services: [],
        features: [tokensModule(tokens), RealtimeModule.forRoot({ expiryWarningMs: 1000, usageIntervalMs: 500, cancelGraceMs: 3000 })],
        logLevel: 'silent',
      },
      0,
      '127.0.0.1',
    );

  beforeAll(async () => {
    env = await startTestEnv();
    // One after the other: the gateway's own schema setup (audit projection) is not safe to race.
    a = await startGateway();
    b = await startGateway();
    nc = await env.connect('admin');
    store = await EventStore.create(nc, { service: 'nodes' });
    nodes = new FakeNodes(nc, store);
    nodes.owners.set(ownServer, 'owner-1');
    nodes.owners.set(otherServer, 'owner-2');
    nodes.nodeId = nodeId;
    nodes.start();
    await nc.flush();
  });
  afterAll(async () => {
    for (const c of clients) c.socket.disconnect();
    await Promise.all([a?.close(), b?.close()]);
    await env?.stop();
  });

  describe('handshake and tokens', () => {
    it('refuses a missing or unknown token with UNAUTHENTICATED', async () => {
      const missing = await connectClient(a.url).catch((e) => e);
      const unknown = await connectClient(a.url, 'nope').catch((e) => e);

      expect(missing.data).toEqual({ code: 'UNAUTHENTICATED' });
      expect(unknown.data).toEqual({ code: 'UNAUTHENTICATED' });
      expect(unknown.message).toMatch(/unknown or revoked/);
    });

    it('warns before expiry and disconnects a token that was not renewed', async () => {
      const c = await client(a.url, tokens.issue('expiring', admin, 2500));

      const warning = await c.next('token_expiring', undefined, 3000);
      const revoked = await c.next('revoked', undefined, 3000);
      await c.next('disconnect');

      expect(Date.parse(warning.expiresAt)).toBeGreaterThan(Date.now() - 1500);
      expect(revoked.code).toBe('TOKEN_EXPIRED');
      const order = c.received.map((r) => r.event);
      expect(order.indexOf('token_expiring')).toBeLessThan(order.indexOf('revoked'));
    });

    it('keeps a socket whose token was renewed with reauth', async () => {
      const c = await client(a.url, tokens.issue('renewing', admin, 2000));
      await c.next('token_expiring', undefined, 3000);

      const ack = await c.socket.emitWithAck('reauth', { token: tokens.issue('renewing', admin, 60_000) });
      const stranger = await c.socket.emitWithAck('reauth', { token: tokens.issue('someone-else', admin, 60_000) });
      const bad = await c.socket.emitWithAck('reauth', { token: 'nope' });
      await sleep(1500);

      expect(ack).toEqual({ ok: true, expiresAt: expect.any(String) });
      expect(stranger.code).toBe('FORBIDDEN');
      expect(bad.code).toBe('UNAUTHENTICATED');
      expect(c.socket.connected).toBe(true);
      expect(c.all('revoked')).toEqual([]);
    });

    it('disconnects a revoked user within a second of the identity event, on the other instance too', async () => {
      const token = tokens.issue('revoked-user', admin);
      const onA = await client(a.url, token);
      const onB = await client(b.url, token);

      tokens.revoke(token);
      const t0 = Date.now();
      // What identity appends when it disables a user: an event on evt.user.<userId>.
      await store.append('user', 'revoked-user', 'any', [event(UserUpdated, { userId: randomUUID(), disabled: true })], { actor: 'system' });
      const [ra, rb] = await Promise.all([onA.next('revoked', undefined, 1500), onB.next('revoked', undefined, 1500)]);
      await Promise.all([onA.next('disconnect'), onB.next('disconnect')]);

      expect(Date.now() - t0).toBeLessThan(1000);
      expect(ra.code).toBe('UNAUTHENTICATED');
      expect(rb.code).toBe('UNAUTHENTICATED');
    });
  });

  describe('rooms', () => {
    it('checks permissions on join', async () => {
      const nobody = await client(a.url, tokens.issue('nobody', []));
      const owner = await client(a.url, tokens.issue('owner-1', ['servers.console']));

      const answers = {
        fleet: await nobody.socket.emitWithAck('subscribe', { room: 'fleet' }),
        events: await nobody.socket.emitWithAck('subscribe', { room: 'events' }),
        bogus: await nobody.socket.emitWithAck('subscribe', { room: 'bogus:1' }),
        malformed: await nobody.socket.emitWithAck('subscribe', 'fleet'),
        own: await owner.socket.emitWithAck('subscribe', { room: `server:${ownServer}` }),
        other: await owner.socket.emitWithAck('subscribe', { room: `server:${otherServer}` }),
        missing: await owner.socket.emitWithAck('subscribe', { room: `server:${randomUUID()}` }),
      };

      // The fleet room is everyone's; what it pushes is filtered per member (see the tests below).
      expect(answers.fleet).toEqual({ ok: true });
      expect(answers.events.code).toBe('FORBIDDEN');
      expect(answers.bogus.code).toBe('VALIDATION_FAILED');
      expect(answers.malformed.code).toBe('VALIDATION_FAILED');
      expect(answers.own).toEqual({ ok: true });
      expect(answers.other.code).toBe('FORBIDDEN');
      expect(answers.missing.code).toBe('NOT_FOUND');
    });

    it('checks permissions on every push: a member who lost the permission gets nothing and leaves', async () => {
      const keeperToken = tokens.issue('keeper', ['nodes.read']);
      const loserToken = tokens.issue('loser', ['nodes.read']);
      const keeper = await client(a.url, keeperToken);
      const loser = await client(a.url, loserToken);
      await keeper.socket.emitWithAck('subscribe', { room: `node:${nodeId}` });
      await loser.socket.emitWithAck('subscribe', { room: `node:${nodeId}` });
      await loser.socket.emitWithAck('subscribe', { room: 'fleet' });

      (tokens.principal(loserToken).permissions as Set<Permission>).delete('nodes.read');
      await store.append('node', nodeId, 'any', [event(NodeCameOnline, { at: new Date().toISOString() })], { actor: 'system' });
      const pushed = await keeper.next('node.state', (d) => d.nodeId === nodeId);
      const left = await loser.next('unsubscribed');
      await sleep(200);

      expect(pushed).toMatchObject({ nodeId, state: 'online', event: 'node.came_online' });
      expect(left).toEqual({ room: `node:${nodeId}`, code: 'FORBIDDEN' });
      // It stays in the fleet room, where node pushes go only to nodes.read holders.
      expect(loser.all('node.state')).toEqual([]);
    });

    it('lets a member without nodes.read follow its own servers from the fleet room, and shows it no node', async () => {
      const ownerToken = tokens.issue('owner-1', ['servers.power']);
      const owner = await client(a.url, ownerToken);
      expect(await owner.socket.emitWithAck('subscribe', { room: 'fleet' })).toEqual({ ok: true });

      await store.append('server', ownServer, 'any', [event(ServerRunning, { run_id: 'r-own' })], { actor: 'system' });
      await store.append('node', nodeId, 'any', [event(NodeCameOnline, { at: new Date().toISOString() })], { actor: 'system' });
      const pushed = await owner.next('server.state', (d) => d.serverId === ownServer);
      await sleep(300);

      expect(pushed).toMatchObject({ serverId: ownServer, state: 'running' });
      expect(owner.all('node.state')).toEqual([]);
      expect(owner.all('server.state').filter((d: { serverId: string }) => d.serverId !== ownServer)).toEqual([]);
    });

    it('pushes server state to fleet members who see the server, and only to them', async () => {
      const reader = await client(a.url, tokens.issue('reader', ['nodes.read', 'servers.read']));
      const stranger = await client(a.url, tokens.issue('stranger', ['nodes.read']));
      await reader.socket.emitWithAck('subscribe', { room: 'fleet' });
      await stranger.socket.emitWithAck('subscribe', { room: 'fleet' });

      await store.append('server', otherServer, 'any', [event(ServerRunning, { run_id: 'r9' })], { actor: 'system' });
      const pushed = await reader.next('server.state', (d) => d.serverId === otherServer);
      await sleep(200);

      expect(pushed).toMatchObject({ serverId: otherServer, state: 'running' });
      expect(stranger.all('server.state').filter((d: { serverId: string }) => d.serverId === otherServer)).toEqual([]);
    });

    it('shows console lines only to members with servers.console', async () => {
      const viewer = await client(a.url, tokens.issue('viewer', ['servers.read']));
      const owner = await client(a.url, tokens.issue('owner-1', ['servers.console']));
      await viewer.socket.emitWithAck('subscribe', { room: `server:${ownServer}` });
      await owner.socket.emitWithAck('subscribe', { room: `server:${ownServer}` });

      nc.publish(Subjects.consoleOut(ownServer), json.encode({ line: 'secret output', stream: 'stdout', at: Date.now() }));
      await store.append('server', ownServer, 'any', [event(ServerRunning, { run_id: 'r1' })], { actor: 'system' });
      const line = await owner.next('console.line');
      const state = await viewer.next('server.state');
      await sleep(200);

      expect(line).toMatchObject({ serverId: ownServer, line: 'secret output', stream: 'stdout' });
      expect(state).toMatchObject({ serverId: ownServer, state: 'running' });
      expect(viewer.all('console.line')).toEqual([]);
      expect(viewer.all('console.scrollback')).toEqual([]);
    });
  });

  describe('pushes', () => {
    it('sends the scrollback on join, then live lines without gap or repeat', async () => {
      const serverId = randomUUID();
      nodes.owners.set(serverId, 'someone');
      for (let i = 0; i < 5; i++) nc.publish(Subjects.consoleOut(serverId), json.encode({ line: `old ${i}`, stream: 'stdout', at: Date.now() }));
      nc.publish(Subjects.consoleOut(serverId), 'a plain line');
      await nc.flush();
      await sleep(100);
      const c = await client(a.url, tokens.issue('admin-1', admin));

      // Lines keep coming while the client joins.
      let n = 0;
      const pump = setInterval(() => nc.publish(Subjects.consoleOut(serverId), json.encode({ line: `live ${n++}`, at: Date.now() })), 2);
      const ack = await c.socket.emitWithAck('subscribe', { room: `server:${serverId}` });
      await sleep(100);
      clearInterval(pump);
      await nc.flush();
      await sleep(200);

      const scrollback = c.all('console.scrollback');
      expect(ack).toEqual({ ok: true });
      expect(scrollback).toHaveLength(1);
      expect(scrollback[0].lines.slice(0, 6)).toEqual(['old 0', 'old 1', 'old 2', 'old 3', 'old 4', 'a plain line']);
      const seen = [...scrollback[0].lines.slice(6), ...c.all('console.line').map((l) => l.line)];
      expect(seen).toEqual(Array.from({ length: n }, (_, i) => `live ${i}`));
    });

    it('sends the scrollback again to a socket that joins a server room it is already in (a terminal opened after its page)', async () => {
      const serverId = randomUUID();
      nodes.owners.set(serverId, 'someone');
      for (let i = 0; i < 3; i++) nc.publish(Subjects.consoleOut(serverId), json.encode({ line: `before ${i}`, stream: 'stdout', at: Date.now() }));
      await nc.flush();
      await sleep(100);
      const c = await client(a.url, tokens.issue('admin-1b', admin));

      expect(await c.socket.emitWithAck('subscribe', { room: `server:${serverId}` })).toEqual({ ok: true });
      expect(await c.socket.emitWithAck('subscribe', { room: `server:${serverId}` })).toEqual({ ok: true });
      await sleep(200);

      const scrollbacks = c.all('console.scrollback').filter((m) => m.serverId === serverId);
      expect(scrollbacks).toHaveLength(2);
      expect(scrollbacks[1].lines).toEqual(['before 0', 'before 1', 'before 2']);
      // Still one membership: a live line comes once.
      nc.publish(Subjects.consoleOut(serverId), json.encode({ line: 'after', at: Date.now() }));
      await nc.flush();
      await sleep(200);
      expect(c.all('console.line').filter((l) => l.serverId === serverId && l.line === 'after')).toHaveLength(1);
    });

    it('pushes node state and usage to fleet and node rooms, usage at most once per interval', async () => {
      const c = await client(a.url, tokens.issue('admin-2', admin));
      await c.socket.emitWithAck('subscribe', { room: `node:${nodeId}` });
      await c.socket.emitWithAck('subscribe', { room: 'fleet' });

      await store.append('node', nodeId, 'any', [event(NodeWentOffline, { last_seen_at: null, missed: 3 })], { actor: 'system' });
      const states = [await c.next('node.state'), await c.next('node.state')];
      const serverId = randomUUID();
      for (let i = 0; i < 10; i++) {
        const sample = { node_id: nodeId, at: Date.now(), cpu_percent: i, load: [1, 2, 3], memory_used: 100 + i, memory_total: 1000, disk_used: 1, disk_total: 2, net_rx: 3, net_tx: 4, servers: [{ server_id: serverId, cpu_percent: 5, memory_bytes: 6, memory_limit_bytes: 7, disk_bytes: 8, uptime_ms: 9 }] };
        nc.publish(Subjects.nodeUsage(nodeId), json.encode(sample));
      }
      await sleep(900);

      expect(states.every((s) => s.state === 'offline')).toBe(true);
      const usage = c.all('node.usage');
      // Two rooms: each gets the first sample at once and the newest one when the interval ends.
      expect(usage).toHaveLength(4);
      expect(usage.map((u) => u.cpu_percent).sort()).toEqual([0, 0, 9, 9]);
      expect(usage[0]).toMatchObject({ nodeId, memory_usage: 100, memory_limit: 1000, load: [1, 2, 3], disk_used: 1, net_tx: 4 });
    });

    it('pushes per-server usage from node samples and per-server subjects', async () => {
      const c = await client(a.url, tokens.issue('owner-1', ['servers.console']));
      await c.socket.emitWithAck('subscribe', { room: `server:${ownServer}` });

      nc.publish(Subjects.nodeUsage(nodeId), json.encode({ node_id: nodeId, at: Date.now(), cpu_percent: 1, memory_used: 1, memory_total: 2, servers: [{ server_id: ownServer, cpu_percent: 42, memory_bytes: 6, memory_limit_bytes: 7, disk_bytes: 8, uptime_ms: 9 }] }));
      const fromNode = await c.next('server.usage');
      await sleep(550);
      nc.publish(Subjects.serverUsage(nodeId, ownServer), json.encode({ cpu_percent: 43, memory_bytes: 1, memory_limit_bytes: 2, disk_bytes: 3, at: Date.now() }));
      const fromServer = await c.next('server.usage');

      expect(fromNode).toMatchObject({ serverId: ownServer, cpu_percent: 42, memory_bytes: 6, memory_limit_bytes: 7, disk_bytes: 8, uptime_ms: 9 });
      expect(fromServer).toMatchObject({ serverId: ownServer, cpu_percent: 43 });
    });

    it('streams new events to the events room as CloudEvents with their sequence', async () => {
      const c = await client(b.url, tokens.issue('admin-3', admin));
      await c.socket.emitWithAck('subscribe', { room: 'events' });

      const appended = await store.append('node', nodeId, 'any', [event(NodeCameOnline, { at: new Date().toISOString() })], { actor: 'system' });
      const pushed = await c.next('event', (e) => e.sequence === appended.revision.sequence);

      expect(pushed.event).toMatchObject({ specversion: '1.0', type: 'node.came_online', subject: `node/${nodeId}` });
    });
  });

  describe('calls', () => {
    it('answers an unknown call, bad params and a bad envelope with one failure result each', async () => {
      const c = await client(a.url, tokens.issue('admin-4', admin));

      c.socket.emit('call', { id: 'u1', call: 'nope.nope', params: {} });
      c.socket.emit('call', { id: 'u2', call: 'jobs.run', params: { runtime: 'cobol' } });
      c.socket.emit('call', { id: 'u3' });
      c.socket.emit('call', 'garbage');
      const results = [await c.next('result', (r) => r.id === 'u1'), await c.next('result', (r) => r.id === 'u2'), await c.next('result', (r) => r.id === 'u3'), await c.next('result', (r) => r.id === '')];

      expect(results.map((r) => [r.success, r.code])).toEqual([
        [false, 'NOT_FOUND'],
        [false, 'VALIDATION_FAILED'],
        [false, 'VALIDATION_FAILED'],
        [false, 'VALIDATION_FAILED'],
      ]);
      expect(results[1].message).toMatch(/runtime/);
      expect(c.socket.connected).toBe(true);
    });

    it('runs a job: output lines, then exactly one result', async () => {
      const c = await client(a.url, tokens.issue('admin-5', admin));

      c.socket.emit('call', { id: 'j1', call: 'jobs.run', params: { runtime: 'bash', code: 'print' } });
      const result = await c.next('result', (r) => r.id === 'j1');
      await sleep(300);

      expect(result).toMatchObject({ id: 'j1', success: true, data: { status: 'succeeded', exit_code: 0, job_id: expect.any(String) } });
      expect(c.all('line')).toEqual([
        { id: 'j1', line: 'hello', stream: 'stdout' },
        { id: 'j1', line: 'world', stream: 'stdout' },
        { id: 'j1', line: 'warn', stream: 'stderr' },
      ]);
      expect(c.all('result').filter((r) => r.id === 'j1')).toHaveLength(1);
      const order = c.received.filter((r) => r.data?.id === 'j1').map((r) => r.event);
      expect(order[order.length - 1]).toBe('result');
    });

    it('refuses a job without jobs.run', async () => {
      const c = await client(a.url, tokens.issue('no-jobs', ['nodes.read']));

      c.socket.emit('call', { id: 'j0', call: 'jobs.run', params: { runtime: 'bash', code: 'print' } });
      const result = await c.next('result', (r) => r.id === 'j0');

      expect(result).toMatchObject({ success: false, code: 'FORBIDDEN' });
      expect(nodes.requests.filter((r) => r.verb === 'run_job' && r.data.code === 'print')).toHaveLength(1);
    });

    it('stops the job on cancel and answers exactly one cancelled result', async () => {
      const c = await client(a.url, tokens.issue('admin-6', admin));

      c.socket.emit('call', { id: 'j2', call: 'jobs.run', params: { runtime: 'bash', code: 'sleep 100' } });
      await waitFor(() => nodes.requests.some((r) => r.verb === 'run_job' && r.data.code === 'sleep 100'));
      c.socket.emit('cancel', { id: 'j2' });
      const result = await c.next('result', (r) => r.id === 'j2');
      c.socket.emit('cancel', { id: 'j2' });
      await sleep(500);

      expect(result).toMatchObject({ id: 'j2', success: false, code: 'CANCELLED', data: { status: 'cancelled' } });
      expect(nodes.requests.filter((r) => r.verb === 'cancel_job')).toHaveLength(1);
      expect(c.all('result').filter((r) => r.id === 'j2')).toHaveLength(1);
    });

    it('lets a job run on when its socket goes away (a reload must not lose it); only cancel stops it', async () => {
      const c = await client(a.url, tokens.issue('admin-7', admin));
      const cancels = () => nodes.requests.filter((r) => r.verb === 'cancel_job').length;
      const before = cancels();

      c.socket.emit('call', { id: 'j3', call: 'jobs.run', params: { runtime: 'bash', code: 'sleep 200' } });
      await waitFor(() => nodes.requests.some((r) => r.verb === 'run_job' && r.data.code === 'sleep 200'));
      await sleep(100);
      c.socket.disconnect();
      await sleep(1000);

      expect(cancels()).toBe(before);
    });

    it('sends a console command to a server one owns, not to another', async () => {
      const c = await client(a.url, tokens.issue('owner-1', ['servers.console']));

      c.socket.emit('call', { id: 'c1', call: 'servers.command', params: { serverId: ownServer, command: 'say hi' } });
      c.socket.emit('call', { id: 'c2', call: 'servers.command', params: { serverId: otherServer, command: 'stop' } });
      const [ok, refused] = [await c.next('result', (r) => r.id === 'c1'), await c.next('result', (r) => r.id === 'c2')];

      expect(ok).toEqual({ id: 'c1', success: true });
      expect(refused).toMatchObject({ id: 'c2', success: false, code: 'FORBIDDEN' });
      expect(nodes.requests.filter((r) => r.verb === 'server_command').map((r) => r.data)).toEqual([{ id: ownServer, command: 'say hi' }]);
    });
  });

  describe('several instances', () => {
    it('sees the sockets of every instance through the Postgres adapter', async () => {
      await client(a.url, tokens.issue('multi-a', admin));
      await client(b.url, tokens.issue('multi-b', admin));
      const server = a.app.get(RealtimeServer).server();

      let users: string[] = [];
      await waitFor(async () => {
        users = (await server.fetchSockets()).map((s) => (s.data as { principal: Principal }).principal.userId);
        return users.includes('multi-a') && users.includes('multi-b');
      }, 12_000);

      expect(users).toEqual(expect.arrayContaining(['multi-a', 'multi-b']));
    });
  });
});

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(25);
  }
}
