import type { NatsContext } from '@nestjs/microservices';
import { metaFromHeaders, type CommandMeta } from '@encedeus/messaging';
import type { Handled, Projector } from '@encedeus/messaging';

/** The command meta (actor, correlation id, idempotency key) from the NATS headers of a request. */
export function commandMeta(ctx: NatsContext): CommandMeta {
  return metaFromHeaders(ctx.getHeaders?.());
}

/** Waits (bounded, 5 s) until the read model applied a command's events, so the caller's next query sees them. */
export async function visible<S>(projector: Projector, handled: Handled<S>): Promise<Handled<S>> {
  if (handled.events.length > 0) await projector.waitFor(handled.revision.sequence, 5000);
  return handled;
}
