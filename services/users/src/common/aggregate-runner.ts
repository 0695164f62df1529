import { Injectable } from '@nestjs/common';
import type { AggregateName, NewEvent } from '@encedeus/contracts';
import { CommandHandler, EventStore, type CommandMeta, type Reducer, type Revision } from '@encedeus/messaging';
import { ReadModel } from './read-model';

export interface Executed<S> {
  state: S;
  revision: Revision;
  /** Stream sequence of the last event written (or of the current state when nothing was written). */
  sequence: number;
  written: boolean;
}

/**
 * The users service's adapter over the write-side kernel (`CommandHandler`, DESIGN.md §4a): the
 * kernel's rules (one conflict retry then 409, If-Match → 412, commands on one aggregate serialised
 * in this instance), plus telling the read model which sequence this instance wrote.
 */
@Injectable()
export class AggregateRunner {
  private readonly handler: CommandHandler;

  constructor(store: EventStore, private readonly readModel: ReadModel) {
    this.handler = new CommandHandler(store);
  }

  async execute<S>(
    aggregate: AggregateName,
    id: string,
    reducer: Reducer<S>,
    meta: CommandMeta,
    decide: (state: S, revision: Revision) => NewEvent[] | Promise<NewEvent[]>,
    /**
     * Undo a side effect of `decide` when the command does not commit: the append lost a race or
     * failed, or `decide` itself failed after (or while) causing the side effect. Must be idempotent
     * and do nothing when the side effect never started.
     */
    compensate?: () => Promise<void>,
  ): Promise<Executed<S>> {
    const result = await this.handler.handleAsync(aggregate, id, reducer, decide, meta, { compensate });
    const written = result.events.length > 0;
    if (written) this.readModel.wrote(result.revision.sequence);
    return { state: result.state, revision: result.revision, sequence: result.revision.sequence, written };
  }
}
