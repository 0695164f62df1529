import type { NatsConnection } from 'nats';
import { DirectoryChunkStore, JetStreamChunkStore } from '@encedeus/chunks';
import type { Projection } from '@encedeus/messaging';
import { AuditProjection } from '../../services/gateway/src/audit/audit.projection';
import { FleetNamesProjection } from '../../services/gateway/src/audit/fleet-names.projection';
import { IdentityTablesProjection } from '../../services/gateway/src/identity/identity-tables.projection';
import { FilesProjection } from '../../services/files/src/projections/files.projection';
import { FleetProjection } from '../../services/nodes/src/projections/fleet.projection';
import { PluginsProjection } from '../../services/plugins/src/projections/plugins.projection';
import { UsersReadModelProjection } from '../../services/users/src/projections/users-read-model.projection';

/** Every service's read-model projections, for `npm run projections:rebuild`. */
const REGISTRY: Record<string, (nc: NatsConnection) => Projection[] | Promise<Projection[]>> = {
  gateway: () => [new AuditProjection(), new FleetNamesProjection(), new IdentityTablesProjection()],
  users: () => [new UsersReadModelProjection()],
  nodes: () => [new FleetProjection()],
  plugins: () => [new PluginsProjection()],
  // Backups' chunk lists are read from their manifests in the chunk store (the one the files service uses).
  files: async (nc) => [new FilesProjection(process.env.FILES_CHUNK_DIR ? new DirectoryChunkStore(process.env.FILES_CHUNK_DIR) : await JetStreamChunkStore.open(nc))],
};

export const REBUILDABLE_SERVICES = Object.keys(REGISTRY);

export async function projectionsOf(service: string, nc: NatsConnection): Promise<Projection[]> {
  return (await REGISTRY[service]?.(nc)) ?? [];
}
