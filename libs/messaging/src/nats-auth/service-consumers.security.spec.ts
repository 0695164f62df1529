import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { AckPolicy, connect, credsAuthenticator, DeliverPolicy, JSONCodec, type NatsConnection } from 'nats';
import { STREAMS } from '@encedeus/contracts';
import { startNats, type NatsHandle } from '@encedeus/testing';
import { randomUUID } from 'node:crypto';
import { startServiceApp } from '../service-app';
import { ensureStreams } from '../streams';
import { inboxPrefixFromCreds } from './operator';
import type { NatsUserName } from './service-permissions';

const json = JSONCodec();

/**
 * Issue 8, Critical 1: with a bare `$JS.API.>` allow-list any service user could rewrite another
 * service's durable (the users read model froze) or point JetStream at another service's subjects.
 */
describe('service NATS users and JetStream consumers', () => {
  let nats: NatsHandle;
  const open: NatsConnection[] = [];

  async function as(user: NatsUserName): Promise<NatsConnection> {
    const creds = await nats.creds(user);
    const nc = await connect({ servers: nats.url, inboxPrefix: inboxPrefixFromCreds(creds), authenticator: credsAuthenticator(new TextEncoder().encode(creds)) });
    open.push(nc);
    return nc;
  }

  beforeAll(async () => {
    nats = await startNats();
    const users = await as('users');
    await ensureStreams(await users.jetstreamManager());
    // What the users service's Projector creates at boot.
    await (await users.jetstreamManager()).consumers.add(STREAMS.events, {
      durable_name: 'users_read_model',
      ack_policy: AckPolicy.All,
      max_ack_pending: 20_000,
      filter_subject: 'evt.>',
      deliver_policy: DeliverPolicy.All,
    });
  });
  afterAll(async () => {
    await Promise.all(open.map((nc) => nc.close().catch(() => undefined)));
    await nats.stop();
  });

  it('refuses a service rewriting another service durable, by every create API', async () => {
    const nodes = await as('nodes');
    const jsm = await nodes.jetstreamManager();
    const attack = { ack_policy: AckPolicy.All, deliver_policy: DeliverPolicy.All, filter_subject: 'evt.nothing.>', max_ack_pending: 1 };

    const named = await jsm.consumers.add(STREAMS.events, { ...attack, durable_name: 'users_read_model' }).catch((e: Error) => e);
    const legacy = await nodes
      .request(`$JS.API.CONSUMER.CREATE.${STREAMS.events}`, json.encode({ stream_name: STREAMS.events, config: { ...attack, name: 'users_read_model' } }), { timeout: 2000 })
      .catch((e: Error) => e);
    const legacyDurable = await nodes
      .request(`$JS.API.CONSUMER.DURABLE.CREATE.${STREAMS.events}.users_read_model`, json.encode({ stream_name: STREAMS.events, config: { ...attack, durable_name: 'users_read_model' } }), { timeout: 2000 })
      .catch((e: Error) => e);
    const deleted = await jsm.consumers.delete(STREAMS.events, 'users_read_model').catch((e: Error) => e);
    const pulled = await nodes.request(`$JS.API.CONSUMER.MSG.NEXT.${STREAMS.events}.users_read_model`, json.encode({ batch: 1, no_wait: true }), { timeout: 2000 }).catch((e: Error) => e);

    for (const outcome of [named, legacy, legacyDurable, deleted, pulled]) expect(String(outcome)).toMatch(/Permissions Violation/);
    const info = await (await (await as('users')).jetstreamManager()).consumers.info(STREAMS.events, 'users_read_model');
    expect(info.config.filter_subject).toBe('evt.>');
    expect(info.config.max_ack_pending).toBe(20_000);
  });

  it('runs no command for events a push consumer delivers into a command subject', async () => {
    // A service with the JetStream rights it needs can still create a push consumer (its deliver
    // subject is in the request body, which no allow-list sees). The command side refuses the deliveries.
    const received: unknown[] = [];
    @Controller()
    class DeleteCredentials {
      @MessagePattern('cmd.auth.delete_credentials')
      handle(@Payload() payload: unknown) {
        received.push(payload);
        return { ok: true };
      }
    }
    @Module({ controllers: [DeleteCredentials] })
    class AuthStub {}
    const app: INestMicroservice = await startServiceApp('auth', AuthStub, { servers: nats.url, creds: await nats.creds('auth'), logger: false });
    const attacker = await as('users');
    for (let i = 0; i < 3; i++) await attacker.jetstream().publish(`evt.user.${randomUUID()}`, json.encode({ id: randomUUID(), type: 'user.created', data: { userId: `victim-${i}` } }));
    const jsm = await attacker.jetstreamManager();
    await jsm.consumers.add(STREAMS.events, { name: 'x1', filter_subject: 'evt.user.>', deliver_subject: 'cmd.auth.delete_credentials', deliver_group: 'auth', ack_policy: AckPolicy.None });
    const until = Date.now() + 5000;
    while ((await jsm.consumers.info(STREAMS.events, 'x1')).delivered.consumer_seq < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));

    // The marker: a real request, sent after JetStream reported every delivery.
    const reply = await (await as('gateway')).request('cmd.auth.delete_credentials', json.encode({ id: 'req-1', pattern: 'cmd.auth.delete_credentials', data: { userId: 'marker' } }), { timeout: 3000 });

    expect(json.decode(reply.data)).toMatchObject({ response: { ok: true } });
    expect((await jsm.consumers.info(STREAMS.events, 'x1')).delivered.consumer_seq).toBeGreaterThanOrEqual(3);
    expect(received).toEqual([{ userId: 'marker' }]);
    await app.close();
  });

  it('refuses a service overwriting another service snapshots or capturing commands in a stream', async () => {
    const users = await as('users');
    const js = users.jetstream();

    const foreignSnapshot = await js.publish('$KV.snapshots.server-v1.server.s1', json.encode({ state: 'forged' })).catch((e: Error) => e);
    const captured = await (await users.jetstreamManager()).streams.add({ name: 'CAPTURE', subjects: ['cmd.>'] }).catch((e: Error) => e);

    expect(String(foreignSnapshot)).toMatch(/Permissions Violation|503|timeout/i);
    expect(String(captured)).toMatch(/Permissions Violation/);
  });

  it('refuses a service deleting or purging a stream', async () => {
    const gateway = await as('gateway');
    const jsm = await gateway.jetstreamManager();

    const purged = await jsm.streams.purge(STREAMS.events).catch((e: Error) => e);
    const deleted = await jsm.streams.delete(STREAMS.events).catch((e: Error) => e);

    expect(String(purged)).toMatch(/Permissions Violation/);
    expect(String(deleted)).toMatch(/Permissions Violation/);
  });

  it('lets a service run its own durable, ordered reads and KV snapshots', async () => {
    const users = await as('users');
    const js = users.jetstream();
    await js.publish(`evt.user.${randomUUID()}`, json.encode({ n: 1 }));

    const ordered = await js.consumers.get(STREAMS.events, { filterSubjects: 'evt.user.>' });
    const first = await ordered.next({ expires: 2000 });
    const own = await js.consumers.get(STREAMS.events, 'users_read_model');
    const owned = await own.next({ expires: 2000 });
    owned?.ack();
    const kv = await js.views.kv('snapshots', { history: 1 });
    await kv.put('user-v1.user.x', json.encode({ ok: true }));

    expect(first?.subject).toMatch(/^evt\.user\./);
    expect(owned?.subject).toMatch(/^evt\.user\./);
    expect(json.decode((await kv.get('user-v1.user.x'))!.value)).toEqual({ ok: true });
  });
});
