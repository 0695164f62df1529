import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import type { EntityManager } from 'typeorm';
import { UserCreated, UserDeleted, type EventData, type RecordedEvent } from '@encedeus/contracts';
import { NATS_CONNECTION, Projector, type Projection } from '@encedeus/messaging';
import { ApiKeysService } from '../apikeys/apikeys.service';
import { AuthState } from '../state/auth-state';

/**
 * The steps of a user's credentials that follow the user's events (docs/identity.md "Create and
 * delete a user"), run from a durable consumer of `evt.user.>` whose checkpoint is committed with
 * the change, so a restart of auth (or of every instance) resumes where it stopped and a redelivery
 * changes nothing:
 * - `user.created`: the credentials staged by `set_credentials` (mode `create`) are confirmed:
 *   `confirmed_at` is set and they are never again taken over as abandoned.
 * - `user.deleted`: the credentials are deleted, every refresh token revoked, every API key of the
 *   user revoked (`apikey.revoked`, reason `owner_deleted`).
 * Every step is idempotent; an event that keeps failing is parked by the Projector (health degraded).
 */
export class UserCredentialsSteps implements Projection {
  readonly name = 'auth_user_credentials';
  readonly filterSubject = 'evt.user.>';
  readonly schema = 'auth';
  /** State, not a projection: a rebuild replays the steps (idempotent) and drops nothing. */
  readonly tables: string[] = [];

  constructor(private readonly state: AuthState, private readonly apiKeys: ApiKeysService) {}

  async migrate(): Promise<void> {
    await this.state.ready();
  }

  async apply(em: EntityManager, events: RecordedEvent[]): Promise<void> {
    for (const { event: e } of events) {
      if (e.type === UserCreated.type) {
        const { userId } = e.data as EventData<typeof UserCreated>;
        await em.query(`update auth.credentials set confirmed_at = coalesce(confirmed_at, $2) where user_id = $1`, [userId, e.time]);
      } else if (e.type === UserDeleted.type) {
        const { userId } = e.data as EventData<typeof UserDeleted>;
        await em.query(`delete from auth.credentials where user_id = $1`, [userId]);
        await em.query(`update auth.refresh_tokens set revoked_at = now() where user_id = $1 and revoked_at is null`, [userId]);
        // Appends apikey.revoked per live key; a redelivery finds them revoked and appends nothing.
        await this.apiKeys.revokeAllOf(userId, e.actor ?? 'system');
      }
    }
  }
}

/** Runs UserCredentialsSteps in this auth instance (instances share the durable: one handles each event). */
@Injectable()
export class UserCredentialsProcessManager implements OnModuleInit, OnApplicationShutdown {
  readonly projector: Projector;

  constructor(@Inject(NATS_CONNECTION) nc: NatsConnection, private readonly state: AuthState, apiKeys: ApiKeysService) {
    this.projector = new Projector(nc, state.dataSource, new UserCredentialsSteps(state, apiKeys), { batchSize: 100 });
  }

  async onModuleInit(): Promise<void> {
    // The auth schema first, under AuthState's lock: the projector's own DDL would race its `create schema`.
    await this.state.ready();
    await this.projector.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.projector.stop();
  }
}
