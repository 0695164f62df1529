import { randomUUID } from 'node:crypto';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { AGENT_VERBS, Subjects } from '@encedeus/contracts';
import { startNats, type NatsHandle } from '@encedeus/testing';
import { agentOfReply, isCommandRequest } from './command-guard';
import { inboxPrefixFromCreds, mintUserCreds } from './operator';
import { agentPermissions } from './service-permissions';

async function violations(nc: NatsConnection, act: () => void): Promise<string[]> {
  const errors: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.data));
  })();
  act();
  await nc.flush().catch(() => undefined);
  await new Promise((r) => setTimeout(r, 150));
  return errors;
}

const as = async (nats: NatsHandle, creds: string) => connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), inboxPrefix: inboxPrefixFromCreds(creds) });

/** Issue 11: agents ask the auth service to check SFTP logins, and nothing else of `cmd.>`; replies come back on agent.<own id>.reply.<n>. */
describe('SFTP login subjects (NATS allow-lists)', () => {
  let nats: NatsHandle;
  const nodeId = randomUUID();
  const otherNode = randomUUID();

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(() => nats.stop());

  it('lets an agent ask cmd.auth.sftp_login and get the answer on its own reply subject', async () => {
    const agent = await as(nats, await mintUserCreds(nats.signer, `agent-${nodeId}`, agentPermissions(nodeId)));
    const auth = await as(nats, await nats.creds('auth'));
    auth.subscribe('cmd.auth.sftp_login', { callback: (_e, m) => m.respond(new TextEncoder().encode('ok')) });
    await auth.flush();

    const reply = await agent.request('cmd.auth.sftp_login', new Uint8Array(), { timeout: 2000, noMux: true, reply: `agent.${nodeId}.reply.r1` });

    expect(new TextDecoder().decode(reply.data)).toBe('ok');
    await agent.close();
    await auth.close();
  });

  it('refuses an agent every other command and another node\'s replies', async () => {
    const agent = await as(nats, await mintUserCreds(nats.signer, `agent-${nodeId}`, agentPermissions(nodeId)));

    const errors = await violations(agent, () => {
      agent.publish('cmd.auth.sftp_access', new Uint8Array());
      agent.publish('cmd.auth.login', new Uint8Array());
      agent.publish('cmd.users.get', new Uint8Array());
      agent.subscribe(`agent.${otherNode}.reply.>`);
    });

    expect(errors).toEqual(['PERMISSIONS_VIOLATION', 'PERMISSIONS_VIOLATION', 'PERMISSIONS_VIOLATION']);
    await agent.close();
  });

  it('lets the auth service answer on agent.*.reply.> but never command an agent', async () => {
    const auth = await as(nats, await nats.creds('auth'));

    const errors = await violations(auth, () => {
      auth.publish(`agent.${nodeId}.reply.r2`, new Uint8Array());
      auth.publish(`agent.${nodeId}.cmd.power`, new Uint8Array());
    });

    expect(errors).toEqual(['PERMISSIONS_VIOLATION']);
    await auth.close();
  });
});

/** Issue 14: the nodes service tells one agent at once that an access change may have ended SFTP sessions. */
describe('sftp_recheck (NATS allow-lists)', () => {
  let nats: NatsHandle;
  const nodeId = randomUUID();
  const otherNode = randomUUID();
  const recheck = (node: string) => Subjects.agentCommand(node, AGENT_VERBS.sftpRecheck);

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(() => nats.stop());

  it('reaches the agent of the node named from the nodes service, and no other agent or service may send or read it', async () => {
    const agent = await as(nats, await mintUserCreds(nats.signer, `agent-${nodeId}`, agentPermissions(nodeId)));
    const nodes = await as(nats, await nats.creds('nodes'));
    const auth = await as(nats, await nats.creds('auth'));
    const received: string[] = [];
    agent.subscribe(recheck(nodeId), { callback: (_e, m) => received.push(m.subject) });
    await agent.flush();

    const agentErrors = await violations(agent, () => {
      agent.subscribe(recheck(otherNode));
      agent.publish(recheck(otherNode), new Uint8Array());
    });
    const authErrors = await violations(auth, () => auth.publish(recheck(nodeId), new Uint8Array()));
    nodes.publish(recheck(nodeId), new TextEncoder().encode('{}'));
    await nodes.flush();
    await new Promise((r) => setTimeout(r, 150));

    expect(received).toEqual([recheck(nodeId)]);
    expect(agentErrors).toEqual(['PERMISSIONS_VIOLATION', 'PERMISSIONS_VIOLATION']);
    expect(authErrors).toEqual(['PERMISSIONS_VIOLATION']);
    for (const nc of [agent, nodes, auth]) await nc.close();
  });
});

describe('isCommandRequest', () => {
  it('accepts requests answered into an inbox or an agent reply subject, never JetStream deliveries', () => {
    expect(isCommandRequest('_INBOX_gateway.abc')).toBe(true);
    expect(isCommandRequest(`agent.${randomUUID()}.reply.abc123`)).toBe(true);
    expect(isCommandRequest('$JS.ACK.EVENTS.x.1.2.3.4.5')).toBe(false);
    expect(isCommandRequest('agent.n1.cmd.power')).toBe(false);
    expect(isCommandRequest('agent.n1.reply.a.b')).toBe(false);
    expect(isCommandRequest(undefined)).toBe(false);
  });
});

describe('agentOfReply', () => {
  it('names the node of an agent reply subject and nothing else', () => {
    const node = randomUUID();
    expect(agentOfReply(`agent.${node}.reply.abc123`)).toBe(node);
    expect(agentOfReply('_INBOX_gateway.abc')).toBeUndefined();
    expect(agentOfReply(`agent.${node}.cmd.power`)).toBeUndefined();
    expect(agentOfReply(`agent.${node}.reply.a.b`)).toBeUndefined();
    expect(agentOfReply(undefined)).toBeUndefined();
  });
});
