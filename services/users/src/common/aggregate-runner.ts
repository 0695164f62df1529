import { Injectable } from '@nestjs/common';
import { PreconditionFailedError, WrongExpectedRevisionError, type AggregateName, type NewEvent } from '@encedeus/contracts';
import { EventStore, type CommandMeta, type Reducer, type Revision } from '@encedeus/messaging';
import { KeyedLock } from './keyed-lock';
import { ReadModel } from './read-model';

export interface Executed<S> {
  state: S;
  revision: Revision;
  /** Stream sequence of the last event written (or of the current state when nothing was written). */
  sequence: number;
  written: boolean;
}

/**
 * load → decide → append for one aggregate, with the HTTP concurrency rules of issue #3:
 * `meta.expectedVersion` (If-Match) must equal the loaded version, else 412 with the current
 * version; without it an append conflict is retried once on fresh state.
 */
@Injectable()
export class AggregateRunner {
  private readonly locks = new KeyedLock();

  constructor(private readonly store: EventStore, private readonly readModel: ReadModel) {}

  async execute<S>(
    aggregate: AggregateName,
    id: string,
    reducer: Reducer<S>,
    meta: CommandMeta,
    decide: (state: S, revision: Revision) => NewEvent[] | Promise<NewEvent[]>,
    /** Undo a side effect of `decide` when the append lost a race. */
    compensate?: () => Promise<void>,
  ): Promise<Executed<S>> {
    return this.locks.run(`${aggregate}/${id}`, async () => {
      for (let attempt = 0; ; attempt++) {
        const { state, revision } = await this.store.load(aggregate, id, reducer);
        if (meta.expectedVersion !== undefined && revision.version !== meta.expectedVersion) {
          throw new PreconditionFailedError(revision.version);
        }
        const events = await decide(state, revision);
        if (events.length === 0) return { state, revision, sequence: revision.sequence, written: false };
        try {
          const result = await this.store.append(aggregate, id, revision, events, meta);
          const next = result.events.reduce((s, r) => reducer.evolve(s, r.event), state);
          this.readModel.wrote(result.revision.sequence);
          return { state: next, revision: result.revision, sequence: result.revision.sequence, written: true };
        } catch (error) {
          if (!(error instanceof WrongExpectedRevisionError)) throw error;
          await compensate?.().catch(() => undefined);
          if (meta.expectedVersion !== undefined) {
            throw new PreconditionFailedError((await this.store.currentRevision(`evt.${aggregate}.${id}`)).version);
          }
          if (attempt >= 1) throw error;
        }
      }
    });
  }

  /** Serialises arbitrary work on a key (e.g. role names while checking uniqueness). */
  lock<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.locks.run(key, work);
  }
}
