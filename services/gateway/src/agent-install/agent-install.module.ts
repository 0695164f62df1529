import { Module, type DynamicModule } from '@nestjs/common';
import { AgentBundle, type AgentBundleOptions } from './agent-bundle';
import { AgentInstallController } from './agent-install.controller';
import { EnrollLimiter, type EnrollLimits } from './enroll-limiter';

/** `/agent/install.sh`, `/agent/encedeus-agent.tgz`, `POST /api/v1/agent/enroll` (issue 14). */
@Module({})
export class AgentInstallModule {
  static forRoot(options: { bundle?: AgentBundleOptions; enrollLimits?: EnrollLimits } = {}): DynamicModule {
    return {
      module: AgentInstallModule,
      controllers: [AgentInstallController],
      providers: [
        { provide: AgentBundle, useValue: new AgentBundle(options.bundle) },
        { provide: EnrollLimiter, useValue: new EnrollLimiter(options.enrollLimits) },
      ],
    };
  }
}
