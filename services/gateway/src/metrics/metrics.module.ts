import { Module, type DynamicModule } from '@nestjs/common';
import { SubjectNames } from '../audit/subject-names';
import { AgentDataIngest } from './agent-ingest';
import { ExternalAgentsController } from './agents.controller';
import { AlertRulesController } from './alert-rules.controller';
import { UsageMetricsController } from './metrics.controllers';

/** REST of the metrics service (issue 12, docs/metrics.md): usage history of nodes and servers, external agents (seed 002), alert rules. */
@Module({})
export class MetricsModule {
  static forRoot(): DynamicModule {
    return { module: MetricsModule, controllers: [UsageMetricsController, ExternalAgentsController, AlertRulesController], providers: [AgentDataIngest, SubjectNames], exports: [AgentDataIngest] };
  }
}
