import type { DynamicModule } from '@nestjs/common';
import type { GatewayOptions } from './gateway.options';
import { AgentInstallModule } from './agent-install/agent-install.module';
import { FilesModule } from './files/files.module';
import { FleetModule } from './fleet/fleet.module';
import { IdentityModule } from './identity/identity.module';
import { PluginsModule } from './plugins/plugins.module';
import { MetricsModule } from './metrics/metrics.module';
import { RealtimeModule } from './realtime/realtime.module';

/** The feature modules of the gateway: identity, fleet, files, metrics, plugins, realtime, agent install. Tests use the same list. */
export function gatewayFeatures(options: Omit<GatewayOptions, 'features'>): DynamicModule[] {
  return [IdentityModule.forRoot(), FleetModule.forRoot(), FilesModule.forRoot(), MetricsModule.forRoot(), PluginsModule.forRoot(), RealtimeModule.forRoot(), AgentInstallModule.forRoot({ bundle: options.agentBundle })];
}
