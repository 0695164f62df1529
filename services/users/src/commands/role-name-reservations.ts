import { Injectable } from '@nestjs/common';
import { DomainError, roleNameKey } from '@encedeus/contracts';
import { EventStore, retry } from '@encedeus/messaging';
import { ReadModel } from '../common/read-model';
import { roleReducer } from '../domain/role.decider';

/**
 * A reservation older than this whose owner does not hold the name was left by a crash between
 * reserving and appending (or between appending and releasing): every step of a command answers
 * within seconds, so a younger one may belong to a command still in flight.
 */
export const ABANDONED_AFTER_SECONDS = 60;

/** The name was free again after a look (released, or an abandoned reservation was dropped): try once more. */
class NameFreedAgain extends Error {}

/** A name taken for a command; `fresh` when this call took it (false: the owner held it already). */
export interface Reservation {
  key: string;
  fresh: boolean;
}

/**
 * Role names are unique across every users instance (DESIGN.md §4a): a name is reserved in
 * `users.name_reservations` (primary key = kind + `roleNameKey(name)`, the rule `roleNameMatches`
 * names roles by) before the role is created or renamed, and released after it is deleted or
 * renamed. Postgres's unique key decides a race between replicas; the loser answers 409
 * ALREADY_EXISTS. A reservation abandoned by a crash is taken over once it is older than
 * ABANDONED_AFTER_SECONDS and its owner's events (EVENTS, not the projection) show it does not
 * hold the name.
 */
@Injectable()
export class RoleNameReservations {
  constructor(private readonly readModel: ReadModel, private readonly store: EventStore) {}

  /** Reserves `name` for role `ownerId`; 409 ALREADY_EXISTS when another role holds it. Idempotent for the owner. */
  async reserve(name: string, ownerId: string): Promise<Reservation> {
    const key = roleNameKey(name);
    // A second attempt only after taking an abandoned reservation over (or a release in between).
    return retry(
      async () => {
        const inserted = await this.readModel.query<{ owner_id: string }>(
          `insert into users.name_reservations (kind, key, owner_id) values ('role', $1, $2) on conflict do nothing returning owner_id`,
          [key, ownerId],
        );
        if (inserted.length) return { key, fresh: true };
        const [holder] = await this.readModel.query<{ owner_id: string; abandoned: boolean }>(
          `select owner_id, reserved_at < now() - $2 * interval '1 second' as abandoned from users.name_reservations where kind = 'role' and key = $1`,
          [key, ABANDONED_AFTER_SECONDS],
        );
        if (!holder) throw new NameFreedAgain();
        if (holder.owner_id === ownerId) return { key, fresh: false };
        if (!holder.abandoned || (await this.holds(holder.owner_id, key))) {
          throw new DomainError('ALREADY_EXISTS', `A role named ${name} already exists`, { id: holder.owner_id });
        }
        await this.readModel.query(`delete from users.name_reservations where kind = 'role' and key = $1 and owner_id = $2`, [key, holder.owner_id]);
        throw new NameFreedAgain();
      },
      { attempts: 2, retryIf: (error) => error instanceof NameFreedAgain },
    ).catch((error: unknown) => {
      if (error instanceof NameFreedAgain) throw new DomainError('ALREADY_EXISTS', `A role named ${name} already exists`);
      throw error;
    });
  }

  /**
   * Gives `key` up unless role `ownerId` holds it in its events (an append that failed on the wire
   * may still have been stored). Used after a rename, a delete, or a command that did not commit.
   */
  async release(key: string, ownerId: string): Promise<void> {
    if (await this.holds(ownerId, key)) return;
    await this.readModel.query(`delete from users.name_reservations where kind = 'role' and key = $1 and owner_id = $2`, [key, ownerId]);
  }

  private async holds(roleId: string, key: string): Promise<boolean> {
    const { state } = await this.store.load('role', roleId, roleReducer);
    return state.status === 'active' && roleNameKey(state.name) === key;
  }
}
