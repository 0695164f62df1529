import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { startNats, type NatsHandle } from '@encedeus/testing';
import { inboxPrefixFromCreds } from '../nats-auth/operator';
import type { NatsUserName } from '../nats-auth/service-permissions';
import { Lease, type LeaseOptions } from './lease';

/** Resolves when `check` holds, polling every 20 ms; rejects after `ms`. */
async function until(what: string, check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Lease on a JetStream KV bucket', () => {
  let nats: NatsHandle;
  const open: NatsConnection[] = [];
  const leases: Lease[] = [];

  async function as(user: NatsUserName): Promise<NatsConnection> {
    const creds = await nats.creds(user);
    const nc = await connect({ servers: nats.url, inboxPrefix: inboxPrefixFromCreds(creds), authenticator: credsAuthenticator(new TextEncoder().encode(creds)) });
    open.push(nc);
    return nc;
  }

  function lease(nc: NatsConnection, options: Partial<LeaseOptions> & { name: string }, log: string[]): Lease {
    const l: Lease = new Lease(nc, {
      service: 'nodes',
      ttlMs: 1500,
      ...options,
      onAcquired: () => log.push(`${l.holder} acquired`),
      onLost: (reason) => log.push(`${l.holder} lost: ${reason}`),
    });
    leases.push(l);
    return l;
  }

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await Promise.all(leases.map((l) => l.stop().catch(() => undefined)));
    await Promise.all(open.map((nc) => nc.close().catch(() => undefined)));
    await nats.stop();
  });

  it('lets one of two contenders hold, and the other take over within TTL + one renew period when its connection closes', async () => {
    const log: string[] = [];
    const ncA = await as('nodes');
    const a = lease(ncA, { name: 'two-contenders', holder: 'a' }, log);
    const b = lease(await as('nodes'), { name: 'two-contenders', holder: 'b' }, log);
    await Promise.all([a.start(), b.start()]);
    await until('a holder', () => a.isHeld() || b.isHeld(), 3000);
    const [holder, other] = a.isHeld() ? [a, b] : [b, a];
    // Several renew periods pass with never two holders.
    for (let i = 0; i < 30; i++) {
      expect([a.isHeld(), b.isHeld()].filter(Boolean).length).toBeLessThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(holder.isHeld()).toBe(true);

    const closedAt = Date.now();
    await (holder === a ? ncA : open[1]).close();
    await until('the other holds', () => other.isHeld(), holder.ttlMs + holder.renewMs + 3000);
    const takeoverMs = Date.now() - closedAt;

    // TTL + one renew period, plus a read's round trip and timer lateness on a shared machine.
    expect(takeoverMs).toBeLessThanOrEqual(holder.ttlMs + holder.renewMs + 500);
    expect(holder.isHeld()).toBe(false);
    expect(log).toEqual([`${holder.holder} acquired`, expect.stringMatching(new RegExp(`^${holder.holder} lost`)), `${other.holder} acquired`]);
  }, 20_000);

  it('hands the lease over at once when its holder stops', async () => {
    const log: string[] = [];
    const a = lease(await as('nodes'), { name: 'handover', holder: 'a', ttlMs: 10_000 }, log);
    const b = lease(await as('nodes'), { name: 'handover', holder: 'b', ttlMs: 10_000, renewMs: 200 }, log);
    await a.start();
    await b.start();
    expect(a.isHeld()).toBe(true);
    expect(b.isHeld()).toBe(false);

    const stoppedAt = Date.now();
    await a.stop();
    await until('b holds', () => b.isHeld(), 2000);

    expect(Date.now() - stoppedAt).toBeLessThan(2000);
    expect(log).toEqual(['a acquired', 'a lost: stopped', 'b acquired']);
  });

  it('refuses a service writing another service lease', async () => {
    const log: string[] = [];
    const errors: string[] = [];
    const users = lease(await as('users'), { name: 'x', service: 'nodes', holder: 'intruder', onError: (e) => errors.push(e.message) }, log);

    await users.start();

    expect(users.isHeld()).toBe(false);
    expect(log).toEqual([]);
    expect(errors.join('\n')).toMatch(/permission/i);
  });
});
