import { ErrorCode as NatsErrorCode, JSONCodec, type NatsConnection } from 'nats';
import { DomainError, ServiceUnavailableError, Subjects, type AgentReply } from '@encedeus/contracts';

const codec = JSONCodec<unknown>();

/** Request/reply to one agent on `agent.<nodeId>.cmd.<verb>` (plain JSON, see docs/fleet.md). */
export class AgentClient {
  /** Called with the node id whenever its agent answered (a sign of life for liveness). */
  onAnswer?: (nodeId: string) => void;

  /** Per node: the credentials change in flight, which other requests wait for. */
  private readonly gates = new Map<string, Promise<unknown>>();

  constructor(private readonly nc: NatsConnection) {}

  /**
   * Runs `work` (a credentials push and the wait for the agent's reconnect) while every other request
   * to the node waits: a request the agent receives on its old connection and answers on the new one
   * loses its reply (NATS replies leave on the connection the request came in). Requests inside `work`
   * pass with `{ ungated: true }`. Changes of one node queue behind each other.
   */
  async exclusive<T>(nodeId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.gates.get(nodeId) ?? Promise.resolve();
    const run = previous.then(work, work);
    const gate = run.catch(() => undefined);
    this.gates.set(nodeId, gate);
    try {
      return await run;
    } finally {
      if (this.gates.get(nodeId) === gate) this.gates.delete(nodeId);
    }
  }

  /**
   * Sends a command, after any credentials change of the node in flight (see exclusive); "no
   * responders" is retried for up to a second because an agent applying new credentials is briefly
   * between two connections.
   */
  async request<T>(nodeId: string, verb: string, data: unknown, timeoutMs = 10_000, options: { ungated?: boolean } = {}): Promise<T> {
    if (!options.ungated) await this.gates.get(nodeId);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once<T>(nodeId, verb, data, timeoutMs);
      } catch (error) {
        if (!(error instanceof ServiceUnavailableError) || attempt >= 5) throw error;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private async once<T>(nodeId: string, verb: string, data: unknown, timeoutMs: number): Promise<T> {
    let reply: AgentReply<T>;
    try {
      const message = await this.nc.request(Subjects.agentCommand(nodeId, verb), codec.encode(data), { timeout: timeoutMs });
      reply = codec.decode(message.data) as AgentReply<T>;
      this.onAnswer?.(nodeId);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === NatsErrorCode.NoResponders || code === '503') {
        throw new ServiceUnavailableError(`The agent of node ${nodeId} is not connected`, { node_id: nodeId });
      }
      if (code === NatsErrorCode.Timeout) {
        throw new DomainError('SERVICE_UNAVAILABLE', `The agent of node ${nodeId} did not answer ${verb} in time`, { node_id: nodeId, reason: 'timeout' });
      }
      throw new ServiceUnavailableError(`Cannot reach the agent of node ${nodeId}: ${(error as Error).message}`, { node_id: nodeId });
    }
    if (!reply.ok) throw new DomainError(reply.error.code, reply.error.error, reply.error.details);
    return reply.data;
  }
}
