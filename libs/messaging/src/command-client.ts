import { randomUUID } from 'node:crypto';
import { ErrorCode as NatsErrorCode, JSONCodec, type NatsConnection } from 'nats';
import { DomainError, isErrorBody, ServiceUnavailableError, Subjects, type ServiceName } from '@encedeus/contracts';
import { metaToHeaders, type CommandMeta } from './command-meta';

const codec = JSONCodec<unknown>();

/** The reply packet of a `@nestjs/microservices` NATS handler. */
interface NestReply {
  id?: string;
  response?: unknown;
  err?: unknown;
  isDisposed?: boolean;
}

export interface SendOptions {
  /** @default 5000 */
  timeoutMs?: number;
  /**
   * Take the reply on this subject instead of the connection's inbox (a node agent: the services may
   * answer `agent.<id>.reply.>`, never its `_INBOX_agent-<id>`). @default the inbox
   */
  replySubject?: string;
}

/**
 * Request/reply to `cmd.<service>.<verb>` in the wire format of Nest's NATS transport.
 * Uses core NATS request so a service with no responders fails at once (503), a slow one times
 * out (503), and a typed error of the service comes back as a DomainError with the same code.
 */
export class CommandClient {
  constructor(private readonly nc: NatsConnection, private readonly defaultTimeoutMs = 5000) {}

  async send<T = unknown>(service: ServiceName, verb: string, data: unknown, meta: CommandMeta, options: SendOptions = {}): Promise<T> {
    const subject = Subjects.command(service, verb);
    return this.request<T>(subject, data, meta, options, service);
  }

  async request<T = unknown>(subject: string, data: unknown, meta: CommandMeta, options: SendOptions = {}, service = subject.split('.')[1]): Promise<T> {
    let reply: NestReply;
    try {
      const message = await this.nc.request(subject, codec.encode({ pattern: subject, data, id: randomUUID() }), {
        timeout: options.timeoutMs ?? this.defaultTimeoutMs,
        headers: metaToHeaders(meta),
        ...(options.replySubject ? { noMux: true, reply: options.replySubject } : {}),
      });
      reply = codec.decode(message.data) as NestReply;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === NatsErrorCode.NoResponders || code === '503') {
        throw new ServiceUnavailableError(`The ${service} service is not available`, { service });
      }
      if (code === NatsErrorCode.Timeout) {
        throw new DomainError('SERVICE_UNAVAILABLE', `The ${service} service did not answer in time`, { service, reason: 'timeout' });
      }
      throw new ServiceUnavailableError(`Cannot reach the ${service} service: ${(error as Error).message}`, { service });
    }
    if (reply.err !== undefined && reply.err !== null) {
      if (isErrorBody(reply.err)) throw new DomainError(reply.err.code, reply.err.error, reply.err.details);
      throw new DomainError('INTERNAL', `The ${service} service failed`, { service });
    }
    return reply.response as T;
  }
}
