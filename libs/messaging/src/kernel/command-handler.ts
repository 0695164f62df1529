import { PreconditionFailedError, Subjects, WrongExpectedRevisionError, type AggregateName, type NewEvent, type RecordedEvent } from '@encedeus/contracts';
import type { CommandMeta } from '../command-meta';
import type { EventStore, Reducer, Revision } from '../event-store';
import { KeyedMutex } from './keyed-mutex';
import { exponentialBackoff, retry } from './retry';

/**
 * emmett's decider: `decide(command, state) → events` plus the reducer (`initialState`, `evolve`,
 * `name`) that folds those events back into state. `decide` must be pure: no I/O, no clock, no
 * randomness it does not get from the command. Throw a DomainError to refuse a command.
 */
export interface Decider<S, C> extends Reducer<S> {
  decide(command: C, state: S, revision: Revision): readonly NewEvent[];
}

/** The part of the EventStore the handler uses (a fake one in unit tests). */
export type CommandStore = Pick<EventStore, 'load' | 'append' | 'currentRevision'> & Partial<Pick<EventStore, 'rememberAppended'>>;

export interface HandleOptions {
  /**
   * Appends lost to a concurrent writer that are retried on fresh state before answering 409.
   * @default 1 (DESIGN.md §4a). Facts that do not depend on state (a login on a user) may use more.
   */
  conflictRetries?: number;
  /**
   * Undoes a side effect taken for this command when it does not commit (decide threw, the append
   * failed or lost a race). Called before each retry too; must be idempotent and do nothing when
   * the side effect never started. A bridge until the step becomes a process manager.
   */
  compensate?: () => Promise<void>;
}

export interface Handled<S> {
  /** State after the command: the loaded state with the new events folded in (build the reply from it). */
  state: S;
  /** Where the aggregate stands after the command (ETag = `revision.version`). */
  revision: Revision;
  /** The events this command appended; empty when the decider decided nothing. */
  events: RecordedEvent[];
}

/**
 * The write-side kernel (DESIGN.md §4a, docs/event-store.md "Write-side kernel"): load (cache →
 * snapshot → tail), decide, append at the loaded revision. A lost race is retried on fresh state
 * (once by default), then answered 409 (`WrongExpectedRevisionError`). `meta.expectedVersion`
 * (If-Match) that is not the current version is answered 412 (`PreconditionFailedError` with the
 * current version), before deciding and after a lost race alike. Commands on one aggregate queue
 * behind each other inside this process.
 */
export class CommandHandler {
  private readonly locks = new KeyedMutex();

  constructor(private readonly store: CommandStore) {}

  async handle<S, C>(
    aggregate: AggregateName,
    id: string,
    decider: Decider<S, C>,
    command: C,
    meta: CommandMeta,
    options: HandleOptions = {},
  ): Promise<Handled<S>> {
    return this.handleAsync(aggregate, id, decider, (state, revision) => decider.decide(command, state, revision), meta, options);
  }

  /**
   * `handle` with a decide step that may await (it takes a side effect that `compensate` undoes).
   * Prefer `handle` with a pure decider; this exists for steps not yet moved to a process manager.
   */
  async handleAsync<S>(
    aggregate: AggregateName,
    id: string,
    reducer: Reducer<S>,
    decide: (state: S, revision: Revision) => readonly NewEvent[] | Promise<readonly NewEvent[]>,
    meta: CommandMeta,
    options: HandleOptions = {},
  ): Promise<Handled<S>> {
    const { conflictRetries = 1, compensate } = options;
    const undo = async (): Promise<void> => {
      await compensate?.().catch(() => undefined);
    };
    return this.locks.run(`${aggregate}/${id}`, () =>
      retry(
        async () => {
          const { state, revision } = await this.store.load(aggregate, id, reducer);
          if (meta.expectedVersion !== undefined && revision.version !== meta.expectedVersion) {
            throw new PreconditionFailedError(revision.version);
          }
          let events: readonly NewEvent[];
          try {
            events = await decide(state, revision);
          } catch (error) {
            await undo();
            throw error;
          }
          if (events.length === 0) return { state, revision, events: [] };
          try {
            const result = await this.store.append(aggregate, id, revision, [...events], {
              actor: meta.actor,
              correlationId: meta.correlationId,
              idempotencyKey: meta.idempotencyKey,
            });
            const next = result.events.reduce((s, recorded) => reducer.evolve(s, recorded.event), state);
            // A duplicate (an idempotent retry) may sit behind later events: only a fresh append is remembered.
            if (!result.duplicate) this.store.rememberAppended?.(aggregate, id, reducer, { state: next, revision: result.revision });
            return { state: next, revision: result.revision, events: result.events };
          } catch (error) {
            await undo();
            if (error instanceof WrongExpectedRevisionError && meta.expectedVersion !== undefined) {
              throw new PreconditionFailedError((await this.store.currentRevision(Subjects.event(aggregate, id))).version);
            }
            throw error;
          }
        },
        {
          attempts: 1 + conflictRetries,
          retryIf: (error) => error instanceof WrongExpectedRevisionError,
          // The first retry is immediate (the loser of one race); later ones spread out.
          backoffMs: (attempt) => (attempt === 1 ? 0 : exponentialBackoff(5, 100)(attempt - 1)),
        },
      ),
    );
  }

  /** Serialises other work on a key in this process (e.g. a reply that must not interleave). */
  lock<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.locks.run(key, work);
  }
}
