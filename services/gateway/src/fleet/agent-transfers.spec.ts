import { randomUUID } from 'node:crypto';
import { connect, credsAuthenticator, headers, type NatsConnection } from 'nats';
import { SERVER_FILE_TRANSFER } from '@encedeus/contracts';
import { agentPermissions, inboxPrefixFromCreds, mintUserCreds } from '@encedeus/messaging';
import { startNats, type NatsHandle } from '@encedeus/testing';
import { AgentTransfers } from './agent-transfers';

/**
 * The gateway's side of a download against a node agent that does not keep to what it announced (a
 * compromised node: DESIGN.md §6 trusts an agent with its own node only). Real nats-server, the
 * gateway's and the agent's own NATS users.
 */
describe('AgentTransfers.read against a lying agent', () => {
  let nats: NatsHandle;
  let gateway: NatsConnection;
  let agent: NatsConnection;
  const nodeId = randomUUID();
  let answer: (offset: number, length: number) => { data?: Uint8Array; error?: string } = () => ({});

  const as = async (creds: string) => connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), inboxPrefix: inboxPrefixFromCreds(creds) });

  beforeAll(async () => {
    nats = await startNats();
    gateway = await as(await nats.creds('gateway'));
    agent = await as(await mintUserCreds(nats.signer, `agent-${nodeId}`, agentPermissions(nodeId)));
    agent.subscribe(SERVER_FILE_TRANSFER.agentScope(nodeId), {
      callback: (_err, msg) => {
        if (msg.subject.endsWith('.close')) return void msg.respond(new Uint8Array());
        const { offset, length } = JSON.parse(new TextDecoder().decode(msg.data)) as { offset: number; length: number };
        const a = answer(offset, length);
        if (a.error !== undefined) {
          const h = headers();
          h.set(SERVER_FILE_TRANSFER.errorHeader, a.error);
          return void msg.respond(new Uint8Array(), { headers: h });
        }
        msg.respond(a.data ?? new Uint8Array());
      },
    });
    await agent.flush();
  });
  afterAll(async () => {
    await gateway?.close();
    await agent?.close();
    await nats?.stop();
  });

  async function download(size: number): Promise<{ bytes: number; error?: unknown }> {
    const transfers = new AgentTransfers(gateway);
    let bytes = 0;
    try {
      for await (const chunk of transfers.read({ node_id: nodeId, transfer: 'a'.repeat(32), size, name: 'f', modified: new Date().toISOString() } as never)) bytes += chunk.length;
      return { bytes };
    } catch (error) {
      return { bytes, error };
    }
  }

  it('never yields more bytes than the size it announced (they would go out past Content-Length)', async () => {
    // The agent answers every read with the bytes asked for plus a forged HTTP response.
    answer = (_offset, length) => ({ data: Buffer.concat([Buffer.alloc(length, 1), Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nowned')]) });
    const got = await download(100);
    expect(got.bytes).toBeLessThanOrEqual(100);
    expect(got.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });

  it('fails a read answered short instead of yielding a download that ends early', async () => {
    answer = (_offset, length) => ({ data: Buffer.alloc(Math.max(0, length - 1), 1) });
    const got = await download(100);
    expect(got.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });

  it('turns an unreadable error answer into a typed error, not a SyntaxError', async () => {
    answer = () => ({ error: '{not json' });
    const got = await download(100);
    expect(got.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });

  it('still reads an honest agent byte for byte', async () => {
    answer = (offset, length) => ({ data: Buffer.alloc(length, offset % 251) });
    const size = SERVER_FILE_TRANSFER.chunkBytes * 2 + 17;
    expect(await download(size)).toEqual({ bytes: size });
  });
});
