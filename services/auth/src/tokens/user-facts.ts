import { Injectable } from '@nestjs/common';
import { Subjects, WrongExpectedRevisionError, type NewEvent } from '@encedeus/contracts';
import { EventStore } from '@encedeus/messaging';

/**
 * Appends auth's facts about a user (logged in, logged out, login failed) to `evt.user.<id>`.
 * They do not depend on the user's state, so they append at whatever revision is current,
 * retrying a few times if a user command wins the race.
 */
@Injectable()
export class UserFacts {
  constructor(private readonly store: EventStore) {}

  /** Returns the stream sequence of the appended event. */
  async append(userId: string, e: NewEvent, actor: string): Promise<number> {
    const subject = Subjects.event('user', userId);
    for (let attempt = 0; ; attempt++) {
      const revision = await this.store.currentRevision(subject);
      if (revision.version === 0) return 0; // no such user: nothing to record it on
      try {
        const result = await this.store.append('user', userId, revision, [e], { actor });
        return result.revision.sequence;
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError) || attempt >= 4) throw error;
      }
    }
  }
}
