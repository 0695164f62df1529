import { Module, type DynamicModule } from '@nestjs/common';
import { UsageMetricsController } from './metrics.controllers';

/** REST of the metrics service (issue 12, docs/metrics.md): usage history of nodes and servers. */
@Module({})
export class MetricsModule {
  static forRoot(): DynamicModule {
    return { module: MetricsModule, controllers: [UsageMetricsController] };
  }
}
