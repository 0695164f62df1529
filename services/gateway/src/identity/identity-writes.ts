import { Injectable } from '@nestjs/common';
import { DomainError, type ServiceName } from '@encedeus/contracts';
import { CommandClient, type CommandMeta } from '@encedeus/messaging';
import { IdentityProjection } from './identity.projection';

/**
 * Sends a command and, when its reply (or its error's details) carries the stream `sequence` of
 * the write, waits until the identity projection has applied it: the very next request then sees
 * the change (read-your-writes). The sequence is removed from what the client gets.
 */
@Injectable()
export class IdentityWrites {
  constructor(private readonly commands: CommandClient, private readonly projection: IdentityProjection) {}

  async send<T extends object>(service: ServiceName, verb: string, data: unknown, meta: CommandMeta): Promise<T> {
    let reply: T & { sequence?: number };
    try {
      reply = await this.commands.send<T & { sequence?: number }>(service, verb, data, meta);
    } catch (error) {
      const sequence = (error as { details?: { sequence?: number } }).details?.sequence;
      if (typeof sequence !== 'number') throw error;
      await this.projection.waitFor(sequence);
      throw new DomainError((error as DomainError).code, (error as DomainError).message);
    }
    const { sequence, ...rest } = reply;
    await this.projection.waitFor(sequence);
    return rest as T;
  }

  query<T>(service: ServiceName, verb: string, data: unknown, meta: CommandMeta): Promise<T> {
    return this.commands.send<T>(service, verb, data, meta);
  }
}
