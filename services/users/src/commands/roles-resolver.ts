import { Injectable } from '@nestjs/common';
import { BUILT_IN_ROLE_IDS, DomainError, roleNameMatches, Subjects, type RoleRef } from '@encedeus/contracts';
import { EventStore } from '@encedeus/messaging';
import { ReadModel } from '../common/read-model';

/** Turns `role_id` / `role_name` / `roleIds` of a command into existing role ids (422 for unknown ones). */
@Injectable()
export class RolesResolver {
  constructor(
    private readonly readModel: ReadModel,
    private readonly events: EventStore,
  ) {}

  async resolve(input: { role_id?: string; role_name?: string; roleIds?: string[] }): Promise<string[] | undefined> {
    if (!input.role_id && !input.role_name && !input.roleIds) return undefined;
    await this.readModel.fresh();
    const ids = new Set<string>(input.roleIds ?? []);
    if (input.role_id) ids.add(input.role_id);
    if (input.role_name) {
      // The stored name, ASCII case aside (roleNameMatches): never Postgres lower(), whose Unicode
      // fold turned `ADMİN` into `admin` after the gateway had checked nothing (issue #8 follow-up).
      const given = input.role_name;
      const rows = await this.readModel.query<{ id: string; name: string }>(`select id, name from users.roles`);
      const named = rows.filter((r) => roleNameMatches(r.name, given));
      if (named.length !== 1) throw new DomainError('UNPROCESSABLE', `Role ${given} does not exist`, { fields: [{ path: 'role_name', message: 'unknown role' }] });
      ids.add(named[0].id);
    }
    const missing = await this.missing([...ids]);
    if (missing.length) throw new DomainError('UNPROCESSABLE', `Role ${missing.join(', ')} does not exist`, { fields: [{ path: 'role_id', message: 'unknown role' }] });
    return [...ids];
  }

  /**
   * The ids the read model does not hold. A role another replica (or a lagging projector) has just
   * created is waited for: a miss looks up the role's last event and waits until the tables hold it.
   */
  private async missing(ids: string[]): Promise<string[]> {
    const absent = async (wanted: string[]) => {
      const found = await this.readModel.query<{ id: string }>(`select id from users.roles where id = any($1::uuid[])`, [wanted]);
      return wanted.filter((id) => !found.some((r) => r.id === id));
    };
    const first = await absent(ids);
    if (first.length === 0) return first;
    let last = 0;
    for (const id of first) last = Math.max(last, (await this.events.currentRevision(Subjects.event('role', id))).sequence);
    if (last === 0) return first;
    await this.readModel.fresh(last);
    return absent(first);
  }

  defaultRoles(): string[] {
    return [BUILT_IN_ROLE_IDS.user];
  }

  async refs(ids: string[]): Promise<RoleRef[]> {
    if (ids.length === 0) return [];
    // No wait for the projection: these ids were checked against it (resolve) when they were assigned.
    return this.readModel.query<RoleRef>(`select id, name from users.roles where id = any($1::uuid[]) order by name`, [ids]);
  }
}
