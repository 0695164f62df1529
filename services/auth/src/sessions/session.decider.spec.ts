import { randomUUID } from 'node:crypto';
import { DomainError, UserLoggedIn, UserLoggedOut, UserLoginFailed, event, type CloudEvent } from '@encedeus/contracts';
import { NO_STREAM } from '@encedeus/messaging';
import { sessionDecider } from './session.decider';

const userId = randomUUID();
const familyId = randomUUID();
const recorded = (e: { type: string; data: unknown }) => ({ ...e, subject: `session/${userId}` }) as unknown as CloudEvent;

describe('decide(RecordSessionFact)', () => {
  it('records a login on a session with no history', () => {
    const state = sessionDecider.initialState();

    const events = sessionDecider.decide({ userId, fact: event(UserLoggedIn, { userId, method: 'password', familyId }) }, state, NO_STREAM);

    expect(events).toEqual([{ type: 'user.logged_in', data: { userId, method: 'password', familyId } }]);
  });

  it('records a logout and a failed attempt whatever came before', () => {
    const state = [recorded(event(UserLoggedIn, { userId, method: 'password', familyId }))].reduce(sessionDecider.evolve, sessionDecider.initialState());

    const out = sessionDecider.decide({ userId, fact: event(UserLoggedOut, { userId, familyId, reason: 'logout' }) }, state, NO_STREAM);
    const failed = sessionDecider.decide({ userId, fact: event(UserLoginFailed, { userId, reason: 'bad_password' }) }, state, NO_STREAM);

    expect(state.logins).toBe(1);
    expect(out.map((e) => e.type)).toEqual(['user.logged_out']);
    expect(failed.map((e) => e.type)).toEqual(['user.login_failed']);
  });

  it('refuses a fact about another user', () => {
    const state = sessionDecider.initialState();

    const act = () => sessionDecider.decide({ userId, fact: event(UserLoginFailed, { userId: randomUUID(), reason: 'bad_password' }) }, state, NO_STREAM);

    expect(act).toThrow(DomainError);
  });
});
