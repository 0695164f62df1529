import type { Projection } from '@encedeus/messaging';
import { AuditProjection } from '../../services/gateway/src/audit/audit.projection';
import { IdentityTablesProjection } from '../../services/gateway/src/identity/identity-tables.projection';
import { FilesProjection } from '../../services/files/src/projections/files.projection';
import { FleetProjection } from '../../services/nodes/src/projections/fleet.projection';
import { UsersReadModelProjection } from '../../services/users/src/projections/users-read-model.projection';

/** Every service's read-model projections, for `npm run projections:rebuild`. */
const REGISTRY: Record<string, () => Projection[]> = {
  gateway: () => [new AuditProjection(), new IdentityTablesProjection()],
  users: () => [new UsersReadModelProjection()],
  nodes: () => [new FleetProjection()],
  files: () => [new FilesProjection()],
};

export const REBUILDABLE_SERVICES = Object.keys(REGISTRY);

export function projectionsOf(service: string): Projection[] {
  return REGISTRY[service]?.() ?? [];
}
