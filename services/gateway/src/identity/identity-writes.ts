import { Injectable } from '@nestjs/common';
import { DomainError, type ServiceName } from '@encedeus/contracts';
import { CommandClient, type CommandMeta } from '@encedeus/messaging';
import { IdentityProjection } from './identity.projection';

/** Actors whose last write this gateway remembers for read-your-writes (the oldest is forgotten first). */
const REMEMBERED_ACTORS = 10_000;

/**
 * Sends a command and, when its reply (or its error's details) carries the stream `sequence` of
 * the write, waits until the identity projection has applied it: the very next request then sees
 * the change (read-your-writes). The sequence is removed from what the client gets.
 *
 * Queries answered by a service's read model (lists, SSH keys, pictures) may reach another replica
 * of that service than the one that wrote: they carry the sequence of the actor's last write
 * through this gateway (`CommandMeta.minSequence`), and the replica waits until its read model has
 * applied it.
 */
@Injectable()
export class IdentityWrites {
  private readonly lastWrites = new Map<string, number>();

  constructor(private readonly commands: CommandClient, private readonly projection: IdentityProjection) {}

  async send<T extends object>(service: ServiceName, verb: string, data: unknown, meta: CommandMeta): Promise<T> {
    let reply: T & { sequence?: number };
    try {
      reply = await this.commands.send<T & { sequence?: number }>(service, verb, data, meta);
    } catch (error) {
      const sequence = (error as { details?: { sequence?: number } }).details?.sequence;
      if (typeof sequence !== 'number') throw error;
      this.wrote(meta.actor, sequence);
      await this.projection.waitFor(sequence);
      throw new DomainError((error as DomainError).code, (error as DomainError).message);
    }
    const { sequence, ...rest } = reply;
    if (typeof sequence === 'number') this.wrote(meta.actor, sequence);
    await this.projection.waitFor(sequence);
    return rest as T;
  }

  query<T>(service: ServiceName, verb: string, data: unknown, meta: CommandMeta): Promise<T> {
    return this.commands.send<T>(service, verb, data, { ...meta, minSequence: this.lastWrites.get(meta.actor) });
  }

  private wrote(actor: string, sequence: number): void {
    const previous = this.lastWrites.get(actor) ?? 0;
    this.lastWrites.delete(actor);
    this.lastWrites.set(actor, Math.max(previous, sequence));
    if (this.lastWrites.size > REMEMBERED_ACTORS) this.lastWrites.delete(this.lastWrites.keys().next().value!);
  }
}
