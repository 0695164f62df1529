import type { Handled, Projector } from '@encedeus/messaging';

/**
 * Waits (bounded, 5 s) until the shared read model applied a command's events, so the caller's
 * next query sees them. Projector.waitFor polls the checkpoint row in Postgres, which every replica
 * shares: it holds whichever instance applied the events. The reply itself is built from the
 * decided state, not from the read model.
 */
export async function visible<S>(projector: Projector, handled: Handled<S>): Promise<Handled<S>> {
  if (handled.events.length > 0) await projector.waitFor(handled.revision.sequence, 5000);
  return handled;
}

/** The in-process lock a server's multi-step work runs under (power action, report, timer): they never interleave here. */
export const serverWork = (id: string) => `server-work/${id}`;

/** The lock of a node's capacity, held across replicas (AdvisoryLocks): a create, resize or node delete checks and appends under it. */
export const nodeCapacity = (id: string) => `node-capacity/${id}`;
