import { randomUUID } from 'node:crypto';
import { JSONCodec, type NatsConnection } from 'nats';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { STREAMS, type CloudEvent } from '@encedeus/contracts';
import { readRange } from '@encedeus/messaging';
import { createGatewayApp, type GatewayApp } from '../src/gateway.app';
import { IdentityModule } from '../src/identity/identity.module';
import { IdentityProjection } from '../src/identity/identity.projection';
import { IdentityState } from '../src/identity/identity-state';
import { IdentityTablesProjection, loadIdentity } from '../src/identity/identity-tables.projection';
import { startStack, type Stack } from './stack-harness';

const codec = JSONCodec<CloudEvent>();
/** How soon a write through one gateway must be visible through the other (issue 9's acceptance). */
const OTHER_GATEWAY_MS = 2000;

/**
 * Issue 9: the gateway's identity is a Postgres projection shared by every instance plus a cache per
 * instance that follows EVENTS from the projection's checkpoint — not a replay of EVENTS at every boot.
 */
describe('gateway identity with two gateways on one database', () => {
  let s: Stack;
  let second: GatewayApp;
  let admin: string;
  let nc: NatsConnection;
  /** Last sequence of EVENTS, all of it in the shared projection, before the second gateway boots. */
  let lastBeforeBoot = 0;
  const run = randomUUID().slice(0, 8);
  const gateways = () => [s.gateway, second];
  const http = (i: number) => request(gateways()[i].url);
  const projectionOf = (g: GatewayApp) => g.app.get(IdentityProjection);

  /** Polls until `probe` holds; answers how long it took. */
  async function within(ms: number, what: string, probe: () => Promise<boolean>): Promise<number> {
    const started = Date.now();
    while (!(await probe())) {
      if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return Date.now() - started;
  }

  async function sharedCheckpoint(): Promise<number> {
    const db = s.gateway.app.get(DataSource);
    const [row] = await db.query(`select last_sequence from gateway.projection_checkpoints where name = 'gateway_identity'`);
    return Number(row?.last_sequence ?? 0);
  }

  beforeAll(async () => {
    s = await startStack();
    admin = `Bearer ${await s.adminToken()}`;
    nc = await s.env.connect('admin');
    // Some identity history before the second gateway boots.
    for (let i = 0; i < 5; i++) {
      const res = await s.http().post('/api/v1/roles').set('Authorization', admin).send({ name: `boot-${run}-${i}`, permissions: ['users.read'] });
      expect(res.status).toBe(201);
    }
    lastBeforeBoot = (await (await nc.jetstreamManager()).streams.info(STREAMS.events)).state.last_seq;
    await within(10_000, 'the shared projection catching up', async () => (await sharedCheckpoint()) >= lastBeforeBoot);
    second = await createGatewayApp(
      { nats: { servers: s.env.nats.url, creds: await s.env.nats.creds('gateway') }, databaseUrl: s.env.db.url, services: ['auth', 'users'], features: [IdentityModule.forRoot()], logLevel: 'silent' },
      0,
      '127.0.0.1',
    );
  }, 120_000);

  afterAll(async () => {
    await second?.close().catch(() => undefined);
    await s?.stop();
  });

  it('boots from the shared projection and follows only what it has not applied', async () => {
    const booted = projectionOf(second);

    // The first gateway booted on an empty database; the second loads what the shared projection holds.
    expect(projectionOf(s.gateway).loadedAt).toBe(0);
    expect(booted.loadedAt).toBeGreaterThanOrEqual(lastBeforeBoot);
    expect(booted.caughtUpAt).toBeGreaterThanOrEqual(booted.loadedAt);
  });

  it('holds exactly what a replay of EVENTS from the start gives', async () => {
    const position = projectionOf(second).position;
    const replayed = new IdentityState();
    for await (const m of readRange(nc, { stream: STREAMS.events, filterSubject: 'evt.>', to: position })) replayed.apply(codec.decode(m.data));

    for (const g of gateways()) {
      await projectionOf(g).waitFor(position);
      const cache = projectionOf(g);
      expect(new Map(cache.users)).toEqual(replayed.users);
      expect(new Map(cache.roles)).toEqual(replayed.roles);
      expect(new Map(cache.keys)).toEqual(replayed.keys);
      expect(new Set(cache.revokedSessions)).toEqual(replayed.revokedSessions);
    }
  });

  it('reads each write at once through the gateway that made it, and within 2 s through the other', async () => {
    for (let i = 0; i < 10; i++) {
      const writer = i % 2;
      const other = 1 - writer;
      const created = await http(writer).post('/api/v1/roles').set('Authorization', admin).send({ name: `rw-${run}-${i}`, permissions: ['users.read'] });
      expect(created.status).toBe(201);
      const updated = await http(writer).patch(`/api/v1/roles/${created.body.id}`).set('Authorization', admin).send({ permissions: ['users.read', 'servers.read'] });
      expect(updated.status).toBe(200);

      const mine = await http(writer).get(`/api/v1/roles/${created.body.id}`).set('Authorization', admin);
      expect(mine.status).toBe(200);
      expect([...mine.body.permissions].sort()).toEqual(['servers.read', 'users.read']);
      await within(OTHER_GATEWAY_MS, `role ${i} through the other gateway`, async () => {
        const theirs = await http(other).get(`/api/v1/roles/${created.body.id}`).set('Authorization', admin);
        return theirs.status === 200 && theirs.body.permissions.includes('servers.read');
      });
    }
  });

  it('refuses a revoked API key at once through the revoking gateway, and within 2 s through the other', async () => {
    const created = await http(0).post('/api/v1/api-keys').set('Authorization', admin).send({ name: `key-${run}`, permissions: ['users.read'] });
    expect(created.status).toBe(201);
    const key = `Bearer ${created.body.key}`;
    await within(OTHER_GATEWAY_MS, 'the key through the other gateway', async () => (await http(1).get('/api/v1/auth/me').set('Authorization', key)).status === 200);

    const revoked = await http(1).delete(`/api/v1/api-keys/${created.body.id}`).set('Authorization', admin);
    expect(revoked.status).toBe(204);

    expect((await http(1).get('/api/v1/auth/me').set('Authorization', key)).status).toBe(401);
    await within(OTHER_GATEWAY_MS, 'the revoked key refused through the first gateway', async () => (await http(0).get('/api/v1/auth/me').set('Authorization', key)).status === 401);
  });

  it('ends a logged-out session at once through the gateway that logged out, and within 2 s through the other', async () => {
    const user = await http(0).post('/api/v1/users').set('Authorization', admin).send({ name: `out-${run}`, email: `out-${run}@replicas.test`, password: `out-${run}-password` });
    expect(user.status).toBe(201);
    const login = await http(1).post('/api/v1/auth/login').send({ username: `out-${run}`, password: `out-${run}-password` });
    expect(login.status).toBe(200);
    const token = `Bearer ${login.body.accessToken}`;
    expect((await http(0).get('/api/v1/auth/me').set('Authorization', token)).status).toBe(200);

    expect((await http(0).post('/api/v1/auth/logout').send({ refreshToken: login.body.refreshToken })).status).toBe(204);

    expect((await http(0).get('/api/v1/auth/me').set('Authorization', token)).status).toBe(401);
    await within(OTHER_GATEWAY_MS, 'the session ended through the other gateway', async () => (await http(1).get('/api/v1/auth/me').set('Authorization', token)).status === 401);
  });

  it('shares one checkpoint: the projection in Postgres reaches the stream end with both gateways pulling', async () => {
    const last = (await (await nc.jetstreamManager()).streams.info(STREAMS.events)).state.last_seq;

    await within(5000, 'the shared checkpoint at the end of EVENTS', async () => (await sharedCheckpoint()) >= last);
    expect(projectionOf(s.gateway).position).toBeGreaterThanOrEqual(last);
    expect(projectionOf(second).position).toBeGreaterThanOrEqual(last);
  });

  it('keeps in Postgres (users, roles, keys, revoked sessions) exactly what a replay of EVENTS up to its checkpoint gives', async () => {
    await within(5000, 'the shared projection at the caches\' position', async () => (await sharedCheckpoint()) >= projectionOf(second).position);

    const { state, position } = await loadIdentity(s.gateway.app.get(DataSource), new IdentityTablesProjection());
    const replayed = new IdentityState();
    for await (const m of readRange(nc, { stream: STREAMS.events, filterSubject: 'evt.>', to: position })) replayed.apply(codec.decode(m.data));

    expect(state.users).toEqual(replayed.users);
    expect(state.roles).toEqual(replayed.roles);
    expect(state.keys).toEqual(replayed.keys);
    expect(state.revokedSessions).toEqual(replayed.revokedSessions);
  });
});
