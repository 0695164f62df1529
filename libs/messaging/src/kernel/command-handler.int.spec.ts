import { z } from 'zod';
import { defineEvent, PreconditionFailedError, WrongExpectedRevisionError, type AggregateName, type CloudEvent } from '@encedeus/contracts';
import { startTestEnv, type TestEnv } from '@encedeus/testing';
import { EventStore } from '../event-store';
import { CommandHandler, type Decider } from './command-handler';

const tallied = defineEvent('tally.added', z.object({ by: z.number().int() }), 'test: a tally went up');

const tally: Decider<{ total: number }, { by: number }> = {
  name: 'tally-v1',
  initialState: () => ({ total: 0 }),
  evolve: (state, e: CloudEvent) => ({ total: state.total + (e.data as { by: number }).by }),
  decide: (command) => [{ type: tallied.type, data: { by: command.by } }],
};

const TALLY = 'tally' as AggregateName;

describe('CommandHandler against JetStream', () => {
  let env: TestEnv;
  let stores: EventStore[];
  let replicas: CommandHandler[];

  beforeAll(async () => {
    env = await startTestEnv();
    // Two replicas: two connections, two stores, two handlers (each with its own in-process mutex).
    stores = [
      await EventStore.create(await env.connect('admin'), { service: 'test' }),
      await EventStore.create(await env.connect('admin'), { service: 'test' }),
    ];
    replicas = stores.map((store) => new CommandHandler(store));
  });
  afterAll(() => env.stop());

  it('never lets two replicas both win a race: every reply that succeeded is one event, the rest are 409', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => replicas[i % 2].handle(TALLY, 'race', tally, { by: 1 }, { actor: 'system' })),
    );

    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    for (const l of lost) expect(l.reason).toBeInstanceOf(WrongExpectedRevisionError);
    const { state, revision } = await stores[0].load(TALLY, 'race', tally);
    expect(revision.version).toBe(won.length);
    expect(state.total).toBe(won.length);
    // Every winner saw a distinct version: its reply is built from the state it decided on.
    const versions = won.map((o) => (o as PromiseFulfilledResult<{ revision: { version: number } }>).value.revision.version);
    expect(new Set(versions).size).toBe(won.length);
  });

  it('answers 412 with the current version to a stale If-Match, and appends at a fresh one', async () => {
    await replicas[0].handle(TALLY, 'etag', tally, { by: 1 }, { actor: 'system' });
    await replicas[1].handle(TALLY, 'etag', tally, { by: 1 }, { actor: 'system' });

    const stale = replicas[0].handle(TALLY, 'etag', tally, { by: 5 }, { actor: 'system', expectedVersion: 1 });
    await expect(stale).rejects.toBeInstanceOf(PreconditionFailedError);
    await expect(stale).rejects.toMatchObject({ currentVersion: 2 });

    const fresh = await replicas[0].handle(TALLY, 'etag', tally, { by: 5 }, { actor: 'system', expectedVersion: 2 });
    expect(fresh.revision.version).toBe(3);
    expect(fresh.state.total).toBe(7);
  });

  it('answers 412 to one of two commands with the same If-Match sent through two replicas at once', async () => {
    await replicas[0].handle(TALLY, 'if-match-race', tally, { by: 1 }, { actor: 'system' });

    const outcomes = await Promise.allSettled(
      replicas.map((replica) => replica.handle(TALLY, 'if-match-race', tally, { by: 1 }, { actor: 'system', expectedVersion: 1 })),
    );

    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const [loser] = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(loser.reason).toMatchObject({ code: 'PRECONDITION_FAILED', currentVersion: 2 });
    expect((await stores[1].load(TALLY, 'if-match-race', tally)).revision.version).toBe(2);
  });
});
