import {
  DomainError,
  PreconditionFailedError,
  Subjects,
  WrongExpectedRevisionError,
  type AggregateName,
  type CloudEvent,
  type NewEvent,
  type RecordedEvent,
} from '@encedeus/contracts';
import type { AppendMeta, ExpectedRevision, Loaded, Reducer, Revision } from '../event-store';
import { CommandHandler, type CommandStore, type Decider } from './command-handler';

/** An in-memory event store with the real one's revision rules; `beforeAppend` lets a test race an append. */
class FakeStore implements CommandStore {
  private sequence = 0;
  readonly streams = new Map<string, RecordedEvent[]>();
  readonly appends: AppendMeta[] = [];
  beforeAppend?: () => void;

  async currentRevision(subject: string): Promise<Revision> {
    const events = this.streams.get(subject) ?? [];
    const last = events[events.length - 1];
    return last ? { version: last.event.aggregateversion, sequence: last.sequence } : { version: 0, sequence: 0 };
  }

  async load<S>(aggregate: string, id: string, reducer: Reducer<S>): Promise<Loaded<S>> {
    const subject = Subjects.event(aggregate as AggregateName, id);
    const state = (this.streams.get(subject) ?? []).reduce((s, r) => reducer.evolve(s, r.event), reducer.initialState());
    return { state, revision: await this.currentRevision(subject) };
  }

  async append(aggregate: string, id: string, expected: ExpectedRevision, events: NewEvent[], meta: AppendMeta) {
    const hook = this.beforeAppend;
    this.beforeAppend = undefined;
    hook?.();
    const subject = Subjects.event(aggregate as AggregateName, id);
    const current = await this.currentRevision(subject);
    if (typeof expected === 'object' && expected.sequence !== current.sequence) {
      throw new WrongExpectedRevisionError(subject, expected.version, current.version);
    }
    this.appends.push(meta);
    this.write(subject, events, meta.actor);
    const recorded = (this.streams.get(subject) ?? []).slice(-events.length);
    return { revision: await this.currentRevision(subject), events: recorded, duplicate: false };
  }

  /** A write by someone else (another replica, another command). */
  write(subject: string, events: NewEvent[], actor = 'system'): void {
    const stream = this.streams.get(subject) ?? [];
    for (const e of events) {
      const event = { type: e.type, data: e.data, actor, aggregateversion: stream.length + 1 } as unknown as CloudEvent;
      stream.push({ sequence: ++this.sequence, event });
    }
    this.streams.set(subject, stream);
  }
}

type Counter = { total: number; exists: boolean };
type Add = { by: number };
const added = (by: number): NewEvent => ({ type: 'counter.added', data: { by } });

const counter: Decider<Counter, Add> = {
  name: 'counter-v1',
  initialState: () => ({ total: 0, exists: false }),
  evolve: (state, e) => ({ total: state.total + (e.data as Add).by, exists: true }),
  decide: (command, state) => {
    if (command.by < 0) throw new DomainError('VALIDATION_FAILED', 'only up');
    if (command.by === 0) return [];
    return state.total + command.by > 100 ? [] : [added(command.by)];
  },
};

const SUBJECT = Subjects.event('counter' as AggregateName, 'c1');
const meta = { actor: 'user:1' };

describe('CommandHandler', () => {
  let store: FakeStore;
  let handler: CommandHandler;

  beforeEach(() => {
    store = new FakeStore();
    handler = new CommandHandler(store);
  });

  it('appends the decided events and replies with the decided state', async () => {
    const result = await handler.handle('counter' as AggregateName, 'c1', counter, { by: 3 }, { ...meta, correlationId: 'corr', idempotencyKey: 'k' });

    expect(result.state).toEqual({ total: 3, exists: true });
    expect(result.revision.version).toBe(1);
    expect(result.events).toHaveLength(1);
    expect(store.appends).toEqual([{ actor: 'user:1', correlationId: 'corr', idempotencyKey: 'k' }]);
  });

  it('appends nothing when the decider decides nothing', async () => {
    store.write(SUBJECT, [added(5)]);

    const result = await handler.handle('counter' as AggregateName, 'c1', counter, { by: 0 }, meta);

    expect(result).toEqual({ state: { total: 5, exists: true }, revision: { version: 1, sequence: 1 }, events: [] });
    expect(store.appends).toHaveLength(0);
  });

  it('passes a refusal of the decider through', async () => {
    await expect(handler.handle('counter' as AggregateName, 'c1', counter, { by: -1 }, meta)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('retries a lost race once on fresh state', async () => {
    store.write(SUBJECT, [added(90)]);
    store.beforeAppend = () => store.write(SUBJECT, [added(5)]);
    const decide = jest.spyOn(counter, 'decide');

    const result = await handler.handle('counter' as AggregateName, 'c1', counter, { by: 3 }, meta);

    expect(decide.mock.calls.map(([, state]) => state.total)).toEqual([90, 95]);
    expect(result.state.total).toBe(98);
    expect(result.revision.version).toBe(3);
    decide.mockRestore();
  });

  it('answers 409 when the retry loses the race too', async () => {
    const racer = (): void => {
      store.write(SUBJECT, [added(1)]);
      store.beforeAppend = racer;
    };
    store.beforeAppend = racer;

    await expect(handler.handle('counter' as AggregateName, 'c1', counter, { by: 3 }, meta)).rejects.toBeInstanceOf(WrongExpectedRevisionError);
    expect(store.appends).toHaveLength(0);
  });

  it('retries as many lost races as conflictRetries allows', async () => {
    let races = 3;
    const racer = (): void => {
      store.write(SUBJECT, [added(1)]);
      if (--races > 0) store.beforeAppend = racer;
    };
    store.beforeAppend = racer;

    const result = await handler.handle('counter' as AggregateName, 'c1', counter, { by: 3 }, meta, { conflictRetries: 3 });

    expect(result.state.total).toBe(6);
  });

  it('answers 412 with the current version when If-Match is not the current version', async () => {
    store.write(SUBJECT, [added(1), added(1)]);

    const attempt = handler.handle('counter' as AggregateName, 'c1', counter, { by: 3 }, { ...meta, expectedVersion: 1 });

    await expect(attempt).rejects.toBeInstanceOf(PreconditionFailedError);
    await expect(attempt).rejects.toMatchObject({ currentVersion: 2 });
    expect(store.appends).toHaveLength(0);
  });

  it('appends when If-Match is the current version', async () => {
    store.write(SUBJECT, [added(1)]);

    const result = await handler.handle('counter' as AggregateName, 'c1', counter, { by: 3 }, { ...meta, expectedVersion: 1 });

    expect(result.revision.version).toBe(2);
  });

  it('answers 412, not a retry, when a command with If-Match loses the race', async () => {
    store.write(SUBJECT, [added(1)]);
    store.beforeAppend = () => store.write(SUBJECT, [added(1)]);

    const attempt = handler.handle('counter' as AggregateName, 'c1', counter, { by: 3 }, { ...meta, expectedVersion: 1 });

    await expect(attempt).rejects.toMatchObject({ code: 'PRECONDITION_FAILED', currentVersion: 2 });
  });

  it('compensates a side effect when decide fails or the append loses, and not when it commits', async () => {
    const compensate = jest.fn(async () => undefined);
    await expect(
      handler.handleAsync('counter' as AggregateName, 'c1', counter, async () => Promise.reject(new DomainError('CONFLICT', 'taken')), meta, { compensate }),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(compensate).toHaveBeenCalledTimes(1);

    store.beforeAppend = () => store.write(SUBJECT, [added(1)]);
    await handler.handleAsync('counter' as AggregateName, 'c1', counter, async () => [added(2)], meta, { compensate });
    expect(compensate).toHaveBeenCalledTimes(2);
  });

  it('runs concurrent commands on one aggregate one after the other without conflicts', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => handler.handle('counter' as AggregateName, 'c1', counter, { by: 1 }, meta)));

    expect(results.map((r) => r.revision.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect((await store.currentRevision(SUBJECT)).version).toBe(20);
  });
});
