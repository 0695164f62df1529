import type { NatsContext } from '@nestjs/microservices';
import { metaFromHeaders, type CommandMeta } from '@encedeus/messaging';

/** The command meta (actor, correlation id, idempotency key) from the NATS headers of a request. */
export function commandMeta(ctx: NatsContext): CommandMeta {
  return metaFromHeaders(ctx.getHeaders?.());
}

/** The user id behind an actor (`user:<id>` → id), for owner checks and defaults. */
export function actorUserId(actor: string): string {
  const [kind, id] = actor.split(':');
  return kind === 'user' || kind === 'apikey' ? id : actor;
}
