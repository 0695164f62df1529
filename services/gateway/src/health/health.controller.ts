import { Controller, Get, Inject, Res, type OnModuleInit } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { SERVICES, Subjects, type ServiceName } from '@encedeus/contracts';
import { CommandClient, NATS_CONNECTION, NATS_STATUS, projectionStatus, type NatsStatus, type ProjectionStatus, type ServiceHealth } from '@encedeus/messaging';
import { Public } from '@encedeus/security';
import { GATEWAY_OPTIONS, type GatewayOptions } from '../gateway.options';
import { reportDeadLettersFrom } from '../observability/metrics';

/** What /health asks when GatewayOptions.services is not given (tests that start only these). */
export const DEFAULT_HEALTH_SERVICES: readonly ServiceName[] = ['auth', 'users', 'nodes'];

/**
 * The services a production gateway's /health asks (main.ts): `GATEWAY_HEALTH_SERVICES` (comma
 * separated), else every service a deployment runs (`npm run dev`, docker-compose, infra/k8s):
 * auth, users, nodes, files, metrics, plugins.
 */
export function healthServicesFromEnv(env: NodeJS.ProcessEnv = process.env): ServiceName[] {
  const all: ServiceName[] = SERVICES.filter((s) => s !== 'gateway');
  const listed = env.GATEWAY_HEALTH_SERVICES?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!listed || listed.length === 0) return [...all];
  const unknown = listed.filter((s) => !all.includes(s as ServiceName));
  if (unknown.length > 0) throw new Error(`GATEWAY_HEALTH_SERVICES: unknown service(s) ${unknown.join(', ')} (known: ${all.join(', ')})`);
  return [...new Set(listed)] as ServiceName[];
}

/** Budget of each check: long enough for a loaded machine, short enough for a load balancer's probe. */
const CHECK_TIMEOUT_MS = 2000;

/** `degraded`: serving, but a projection parked events (see `projections`). */
interface DependencyHealth { status: 'up' | 'degraded' | 'down'; error?: string; projections?: Record<string, ProjectionStatus>; [key: string]: unknown }

/**
 * `GET /api/v1/health`: NATS, JetStream, Postgres and every service (asked over `cmd.<service>.health`).
 * 503 when a dependency is down; 200 `degraded` with `deadLetters` when only parked events are wrong
 * (everything still serves, but an operator must look at the dead letters).
 */
@ApiTags('system')
@Controller('health')
export class HealthController implements OnModuleInit {
  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(NATS_STATUS) private readonly natsStatus: NatsStatus,
    @Inject(GATEWAY_OPTIONS) private readonly options: GatewayOptions,
    private readonly commands: CommandClient,
    private readonly dataSource: DataSource,
  ) {}

  onModuleInit(): void {
    reportDeadLettersFrom(() => this.deadLettersByProjection());
  }

  @Public()
  @Get()
  async health(@Res({ passthrough: true }) res: Response) {
    const services = this.serviceNames();
    const [jetstream, postgres, projections, ...serviceResults] = await Promise.all([
      this.jetstream(),
      this.postgres(),
      projectionStatus(this.dataSource).catch(() => ({}) as Record<string, ProjectionStatus>),
      ...services.map((s) => this.service(s)),
    ]);
    const nats: DependencyHealth = this.natsStatus.connected && !this.nc.isClosed() ? { status: 'up' } : { status: 'down', error: this.natsStatus.lastError };
    const checks = { nats, jetstream, postgres, projections, services: Object.fromEntries(services.map((s, i) => [s, serviceResults[i]])) };
    const anyDown = [nats, jetstream, postgres, ...serviceResults].some((c) => c.status !== 'up' && c.status !== 'degraded');
    const deadLetters = [projections, ...serviceResults.map((r) => r.projections ?? {})]
      .flatMap((p) => Object.values(p))
      .reduce((sum, p) => sum + p.deadLetters, 0);
    res.status(anyDown ? 503 : 200);
    return { status: anyDown || deadLetters > 0 ? 'degraded' : 'up', time: new Date().toISOString(), deadLetters, ...checks };
  }

  /** Parked events per projection, the gateway's own and every answering service's (for /metrics). */
  async deadLettersByProjection(): Promise<Record<string, number>> {
    const replies = await Promise.all([
      projectionStatus(this.dataSource).catch(() => ({}) as Record<string, ProjectionStatus>),
      ...this.serviceNames().map((s) => this.service(s, 1000).then((h) => h.projections ?? {})),
    ]);
    return Object.fromEntries(replies.flatMap((p) => Object.entries(p).map(([name, status]) => [name, status.deadLetters])));
  }

  private serviceNames(): ServiceName[] {
    return this.options.services ?? [...DEFAULT_HEALTH_SERVICES];
  }

  private async jetstream(): Promise<DependencyHealth> {
    try {
      const jsm = await this.nc.jetstreamManager({ timeout: CHECK_TIMEOUT_MS });
      const info = await jsm.getAccountInfo();
      return { status: 'up', streams: info.streams, storage: info.storage };
    } catch (error) {
      return { status: 'down', error: (error as Error).message };
    }
  }

  private async postgres(): Promise<DependencyHealth> {
    try {
      await this.dataSource.query('select 1');
      return { status: 'up' };
    } catch (error) {
      return { status: 'down', error: (error as Error).message };
    }
  }

  private async service(name: ServiceName, timeoutMs = CHECK_TIMEOUT_MS): Promise<DependencyHealth> {
    try {
      const health = await this.commands.request<ServiceHealth>(Subjects.health(name), {}, { actor: 'service:gateway' }, { timeoutMs });
      // A service that answers with NATS and Postgres up but parked events still serves: degraded, not down.
      const serving = health.nats && health.postgres !== false;
      return { ...health, status: health.status === 'up' ? 'up' : serving ? 'degraded' : 'down' };
    } catch (error) {
      return { status: 'down', error: (error as Error).message };
    }
  }
}
