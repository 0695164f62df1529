import { JSONCodec, type Msg, type NatsConnection, type Subscription } from 'nats';
import { DomainError, type AgentReply } from '@encedeus/contracts';

const codec = JSONCodec<unknown>();

export type CommandHandler = (data: any) => Promise<unknown>;

/**
 * Subscribes `agent.<nodeId>.cmd.>` and dispatches each verb to its handler; every reply is
 * `{ ok, data | error }`. Handlers run concurrently; ordering per server is the server manager's job.
 */
export class AgentBus {
  private sub?: Subscription;
  private inFlight = 0;
  private readonly idleWaiters = new Set<() => void>();

  constructor(
    private readonly nodeId: string,
    private readonly handlers: Record<string, CommandHandler>,
    /** Handlers loaded on first use (the file manager's and the backups' verbs), asked for a verb not in `handlers`. */
    private readonly more?: (verb: string) => Promise<CommandHandler | undefined>,
  ) {}

  private get prefix(): string {
    return `agent.${this.nodeId}.cmd.`;
  }

  listen(nc: NatsConnection): void {
    this.sub = nc.subscribe(`${this.prefix}>`, { callback: (err, msg) => !err && void this.dispatch(msg) });
  }

  close(): void {
    this.sub?.unsubscribe();
  }

  /** Resolves when no command is being handled (replies sent), or after timeoutMs. */
  idle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); this.idleWaiters.delete(done); resolve(); };
      const timer = setTimeout(done, timeoutMs);
      this.idleWaiters.add(done);
    });
  }

  private async dispatch(msg: Msg): Promise<void> {
    this.inFlight++;
    try {
      await this.handle(msg);
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) for (const wake of [...this.idleWaiters]) wake();
    }
  }

  private async handle(msg: Msg): Promise<void> {
    // Everything after `agent.<nodeId>.cmd.`: `power`, or `fs.list` for the file manager's verbs.
    const verb = msg.subject.slice(this.prefix.length);
    let reply: AgentReply;
    try {
      const handler = Object.prototype.hasOwnProperty.call(this.handlers, verb) ? this.handlers[verb] : await this.more?.(verb);
      if (!handler) throw new DomainError('NOT_FOUND', `agent: unknown command ${verb}`);
      const data = msg.data.length ? codec.decode(msg.data) : {};
      reply = { ok: true, data: (await handler(data)) ?? {} };
    } catch (error) {
      const e = error as DomainError;
      reply = { ok: false, error: { error: e.message ?? String(error), code: e.code ?? 'INTERNAL', ...(e.details !== undefined ? { details: e.details } : {}) } };
    }
    if (msg.reply) msg.respond(codec.encode(reply));
  }
}
