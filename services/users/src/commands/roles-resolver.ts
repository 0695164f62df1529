import { Injectable } from '@nestjs/common';
import { BUILT_IN_ROLE_IDS, DomainError, type RoleRef } from '@encedeus/contracts';
import { ReadModel } from '../common/read-model';

/** Turns `role_id` / `role_name` / `roleIds` of a command into existing role ids (422 for unknown ones). */
@Injectable()
export class RolesResolver {
  constructor(private readonly readModel: ReadModel) {}

  async resolve(input: { role_id?: string; role_name?: string; roleIds?: string[] }): Promise<string[] | undefined> {
    if (!input.role_id && !input.role_name && !input.roleIds) return undefined;
    await this.readModel.fresh();
    const ids = new Set<string>(input.roleIds ?? []);
    if (input.role_id) ids.add(input.role_id);
    if (input.role_name) {
      const [row] = await this.readModel.query<{ id: string }>(`select id from users.roles where lower(name) = lower($1)`, [input.role_name]);
      if (!row) throw new DomainError('UNPROCESSABLE', `Role ${input.role_name} does not exist`, { fields: [{ path: 'role_name', message: 'unknown role' }] });
      ids.add(row.id);
    }
    const found = await this.readModel.query<{ id: string }>(`select id from users.roles where id = any($1::uuid[])`, [[...ids]]);
    const missing = [...ids].filter((id) => !found.some((r) => r.id === id));
    if (missing.length) throw new DomainError('UNPROCESSABLE', `Role ${missing.join(', ')} does not exist`, { fields: [{ path: 'role_id', message: 'unknown role' }] });
    return [...ids];
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
