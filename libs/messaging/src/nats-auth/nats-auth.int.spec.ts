import { connect, credsAuthenticator } from 'nats';
import { startNats, type NatsHandle } from '@encedeus/testing';
import { randomUUID } from 'node:crypto';
import { inboxPrefixFromCreds, mintUserCreds } from './operator';
import { agentPermissions } from './service-permissions';

async function violations(nc: Awaited<ReturnType<typeof connect>>, act: () => void): Promise<string[]> {
  const errors: string[] = [];
  void (async () => { for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.data)); })();
  act();
  await nc.flush().catch(() => undefined);
  await new Promise((r) => setTimeout(r, 150));
  return errors;
}

describe('NATS operator-mode security', () => {
  let nats: NatsHandle;

  beforeAll(async () => { nats = await startNats(); });
  afterAll(() => nats.stop());

  it('refuses a connection without credentials', async () => {
    await expect(connect({ servers: nats.url, maxReconnectAttempts: 0, reconnect: false })).rejects.toThrow(/Authorization/i);
  });

  it('lets a service user publish its own events and refuses another service events', async () => {
    const nc = await connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(await nats.creds('users'))) });

    const errors = await violations(nc, () => {
      nc.publish('evt.user.u1', new Uint8Array());
      nc.publish('evt.server.s1', new Uint8Array());
    });

    expect(errors).toEqual(['PERMISSIONS_VIOLATION']);
    await nc.close();
  });

  it('keeps every user to its own reply inbox, and replies still flow', async () => {
    const gatewayCreds = await nats.creds('gateway');
    const usersCreds = await nats.creds('users');
    const gateway = await connect({ servers: nats.url, inboxPrefix: inboxPrefixFromCreds(gatewayCreds), authenticator: credsAuthenticator(new TextEncoder().encode(gatewayCreds)) });
    const users = await connect({ servers: nats.url, inboxPrefix: inboxPrefixFromCreds(usersCreds), authenticator: credsAuthenticator(new TextEncoder().encode(usersCreds)) });
    users.subscribe('cmd.users.echo', { callback: (_e, m) => m.respond(m.data) });
    await users.flush();

    const reply = await gateway.request('cmd.users.echo', new TextEncoder().encode('hi'), { timeout: 2000 });
    const errors = await violations(users, () => {
      users.subscribe('_INBOX.>');
      users.subscribe(`${inboxPrefixFromCreds(gatewayCreds)}.>`);
    });

    expect(new TextDecoder().decode(reply.data)).toBe('hi');
    expect(errors).toEqual(['PERMISSIONS_VIOLATION', 'PERMISSIONS_VIOLATION']);
    await gateway.close();
    await users.close();
  });

  it('lets a bootstrap agent only ask to enroll', async () => {
    const nc = await connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(await nats.creds('agent-bootstrap'))) });

    const errors = await violations(nc, () => {
      nc.publish('cmd.nodes.enroll', new Uint8Array());
      nc.subscribe('evt.>');
    });

    expect(errors).toEqual(['PERMISSIONS_VIOLATION']);
    await nc.close();
  });

  it('admits an agent whose credentials list the consoles of 500 servers', async () => {
    // Its user JWT rides in CONNECT, far past nats-server's 4 KB default control line.
    const nodeId = randomUUID();
    const creds = await mintUserCreds(nats.signer, `agent-${nodeId}`, agentPermissions(nodeId, Array.from({ length: 500 }, () => randomUUID())));
    expect(creds.length).toBeGreaterThan(50_000);
    const nc = await connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), inboxPrefix: inboxPrefixFromCreds(creds) });

    const errors = await violations(nc, () => nc.publish(`agent.${nodeId}.heartbeat`, new Uint8Array()));

    expect(errors).toEqual([]);
    await nc.close();
  });
});
