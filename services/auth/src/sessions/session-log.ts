import { Injectable } from '@nestjs/common';
import { CommandHandler, EventStore } from '@encedeus/messaging';
import { sessionDecider, type SessionFact } from './session.decider';

/**
 * Records auth's facts about a user's sessions (logged in, logged out, login failed) on the
 * auth-owned `session` aggregate, `evt.session.<userId>`, through the write-side kernel. Appends for
 * one user queue behind each other in this instance; another instance winning the race is retried,
 * up to four times, since a fact never becomes wrong on fresher state (50 parallel logins of one
 * user otherwise answer 409).
 */
@Injectable()
export class SessionLog {
  private readonly commands: CommandHandler;

  constructor(store: EventStore) {
    this.commands = new CommandHandler(store);
  }

  /**
   * Returns the stream sequence of the appended event. `correlationId`: the request's, so the audit
   * log can name where a sign-in came from (the gateway's request_sources).
   */
  async record(userId: string, fact: SessionFact, actor: string, correlationId?: string): Promise<number> {
    const result = await this.commands.handle('session', userId, sessionDecider, { userId, fact }, { actor, ...(correlationId ? { correlationId } : {}) }, { conflictRetries: 4 });
    return result.revision.sequence;
  }
}
