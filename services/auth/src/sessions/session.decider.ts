import { DomainError, UserLoggedIn, UserLoggedOut, UserLoginFailed, type CloudEvent, type EventData, type NewEvent } from '@encedeus/contracts';
import type { Decider } from '@encedeus/messaging';

/** A fact auth records about the sessions of one user: a login, a logout, a failed attempt. */
export type SessionFact =
  | NewEvent<typeof UserLoggedIn.type, EventData<typeof UserLoggedIn>>
  | NewEvent<typeof UserLoggedOut.type, EventData<typeof UserLoggedOut>>
  | NewEvent<typeof UserLoginFailed.type, EventData<typeof UserLoginFailed>>;

/** RecordSessionFact: put `fact` on the session aggregate of `userId` (`evt.session.<userId>`). */
export interface RecordSessionFact {
  userId: string;
  fact: SessionFact;
}

/** What a session aggregate knows: how many logins it recorded (facts need nothing more). */
export interface SessionState {
  logins: number;
}

const SESSION_TYPES = new Set<string>([UserLoggedIn.type, UserLoggedOut.type, UserLoginFailed.type]);

/**
 * The `session` aggregate (auth-owned, one per user, `evt.session.<userId>`): logins, logouts and
 * failed attempts, kept off `evt.user.<id>` so a login never moves the user's version (ETag). A
 * fact never becomes wrong on fresher state, so it is always recorded; only a fact about another
 * user, or an event that is no session fact, is refused (a programming error).
 */
export const sessionDecider: Decider<SessionState, RecordSessionFact> = {
  name: 'auth-session-v1',
  initialState: () => ({ logins: 0 }),
  evolve: (state: SessionState, e: CloudEvent) => (e.type === UserLoggedIn.type ? { logins: state.logins + 1 } : state),
  decide: (command) => {
    if (!SESSION_TYPES.has(command.fact.type)) throw new DomainError('INTERNAL', `auth/sessions: ${command.fact.type} is no session fact`);
    if (command.fact.data.userId !== command.userId) throw new DomainError('INTERNAL', 'auth/sessions: a fact about another user');
    return [command.fact];
  },
};
