import { Logger } from '@nestjs/common';
import { ServerNats } from '@nestjs/microservices';
import { headers as natsHeaders } from 'nats';

type NatsMsg = Parameters<ServerNats['handleMessage']>[1];

/**
 * Whether a message on a command subject is a request of a NATS user, answered into that user's
 * own inbox (`_INBOX_<user>.…`, see inboxPrefixFor; tooling with the admin user may keep nats.js's
 * default `_INBOX.`), or into an agent's reply subject `agent.<id>.reply.<n>` (agents' SFTP login
 * checks: Subjects.agentReply). JetStream deliveries are not: a push consumer
 * or a stream's republish can publish into any subject of the account, outside every user's
 * allow-list, but their reply subject is `$JS.ACK.…` or empty.
 */
export function isCommandRequest(reply: string | undefined): boolean {
  return typeof reply === 'string' && (/^_INBOX[._]/.test(reply) || /^agent\.[A-Za-z0-9_-]+\.reply\.[A-Za-z0-9_-]+$/.test(reply));
}

/**
 * Header the command server sets on a request whose reply subject is an agent's
 * (`agent.<id>.reply.<n>`), to that agent's node id, and strips from every other request. An agent
 * can subscribe only to its own reply subjects, so this names the node that asked: a verb agents
 * may call (auth's SFTP checks) compares it with the node the request claims.
 */
export const AGENT_NODE_HEADER = 'Encedeus-Agent-Node';

/** The node of an agent's reply subject, or undefined. */
export function agentOfReply(reply: string | undefined): string | undefined {
  return /^agent\.([A-Za-z0-9_-]+)\.reply\.[A-Za-z0-9_-]+$/.exec(reply ?? '')?.[1];
}

/** `msg` with AGENT_NODE_HEADER set from its reply subject (never from the sender). */
function withAgentNode(msg: NatsMsg): NatsMsg {
  const agent = agentOfReply(msg.reply);
  if (!agent && !msg.headers?.has(AGENT_NODE_HEADER)) return msg;
  const h = natsHeaders();
  for (const key of msg.headers?.keys() ?? []) {
    if (key.toLowerCase() === AGENT_NODE_HEADER.toLowerCase()) continue;
    for (const value of msg.headers!.values(key)) h.append(key, value);
  }
  if (agent) h.set(AGENT_NODE_HEADER, agent);
  // The message as it is (reply, respond, data) with these headers in place of its own.
  return Object.create(msg, { headers: { value: h } }) as NatsMsg;
}

/**
 * Nest's NATS server that runs a command only for a request (isCommandRequest). Without it, a
 * consumer delivering events into `cmd.auth.delete_credentials` ran that command once per event.
 */
export class CommandServerNats extends ServerNats {
  private readonly guardLogger = new Logger('CommandServerNats');

  override async handleMessage(channel: string, natsMsg: NatsMsg): Promise<unknown> {
    if (!isCommandRequest(natsMsg.reply)) {
      this.guardLogger.warn(`ignored a message on ${natsMsg.subject} that is not a request (reply "${natsMsg.reply ?? ''}"): commands are requests from NATS users, never JetStream deliveries`);
      return undefined;
    }
    return super.handleMessage(channel, withAgentNode(natsMsg));
  }
}
