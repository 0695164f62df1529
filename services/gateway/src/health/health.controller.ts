import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { Subjects, type ServiceName } from '@encedeus/contracts';
import { CommandClient, NATS_CONNECTION, NATS_STATUS, type NatsStatus, type ServiceHealth } from '@encedeus/messaging';
import { Public } from '@encedeus/security';
import { GATEWAY_OPTIONS, type GatewayOptions } from '../gateway.options';

/** Budget of each check: long enough for a loaded machine, short enough for a load balancer's probe. */
const CHECK_TIMEOUT_MS = 2000;

interface DependencyHealth { status: 'up' | 'down'; error?: string; [key: string]: unknown }

/** `GET /api/v1/health`: NATS, JetStream, Postgres and every service (asked over `cmd.<service>.health`). */
@ApiTags('system')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(NATS_STATUS) private readonly natsStatus: NatsStatus,
    @Inject(GATEWAY_OPTIONS) private readonly options: GatewayOptions,
    private readonly commands: CommandClient,
    private readonly dataSource: DataSource,
  ) {}

  @Public()
  @Get()
  async health(@Res({ passthrough: true }) res: Response) {
    const services = this.options.services ?? (['auth', 'users', 'nodes'] as ServiceName[]);
    const [jetstream, postgres, ...serviceResults] = await Promise.all([
      this.jetstream(),
      this.postgres(),
      ...services.map((s) => this.service(s)),
    ]);
    const nats: DependencyHealth = this.natsStatus.connected && !this.nc.isClosed() ? { status: 'up' } : { status: 'down', error: this.natsStatus.lastError };
    const checks = { nats, jetstream, postgres, services: Object.fromEntries(services.map((s, i) => [s, serviceResults[i]])) };
    const allUp = [nats, jetstream, postgres, ...serviceResults].every((c) => c.status === 'up');
    res.status(allUp ? 200 : 503);
    return { status: allUp ? 'up' : 'degraded', time: new Date().toISOString(), ...checks };
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

  private async service(name: ServiceName): Promise<DependencyHealth> {
    try {
      const health = await this.commands.request<ServiceHealth>(Subjects.health(name), {}, { actor: 'service:gateway' }, { timeoutMs: CHECK_TIMEOUT_MS });
      return { ...health, status: health.status === 'up' ? 'up' : 'down' };
    } catch (error) {
      return { status: 'down', error: (error as Error).message };
    }
  }
}
