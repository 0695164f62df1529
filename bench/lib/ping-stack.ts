import { Body, Controller, Module, Post, Req } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import type { INestMicroservice } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { event, Subjects } from '@encedeus/contracts';
import { CommandClient, EventStore, MessagingModule, metaFromHeaders, NO_STREAM, startServiceApp, type AccountSigner } from '@encedeus/messaging';
import { CurrentPrincipal, RequirePermission, type Principal } from '@encedeus/security';
import { createGatewayApp, type GatewayApp } from '../../services/gateway/src/gateway.app';
import { commandMeta } from '../../services/gateway/src/common/request-meta';
import { testPrincipalModule } from '../../services/gateway/test/test-principal';
import { benchPinged } from './events';

/** The verb of the stub nodes service (as in rest-roundtrip.bench.ts). */
export const PING_VERB = 'bench_ping';

const pingBody = z.object({ n: z.number().int() });
class PingBody extends createZodDto(pingBody) {}

/** The test-only gateway route: guarded like every real route, forwards to the stub service. */
@Controller('bench')
class BenchPingController {
  constructor(private readonly commands: CommandClient) {}

  @RequirePermission('servers.create')
  @Post('ping')
  ping(@Body() body: PingBody, @Req() req: Request, @CurrentPrincipal() principal: Principal | null) {
    return this.commands.send('nodes', PING_VERB, body, commandMeta(req, principal));
  }
}
@Module({ controllers: [BenchPingController] })
class BenchGatewayModule {}

/** The stub service's only handler: append one event to a new aggregate, reply with its revision. */
@Controller()
class BenchPingHandler {
  constructor(private readonly store: EventStore) {}

  @MessagePattern(Subjects.command('nodes', PING_VERB))
  async ping(@Payload() cmd: { n: number }, @Ctx() ctx: NatsContext) {
    const id = randomUUID();
    const { revision } = await this.store.append('server', id, NO_STREAM, [event(benchPinged, { n: cmd.n })], metaFromHeaders(ctx.getHeaders()));
    return { id, version: revision.version, sequence: revision.sequence };
  }
}

/** What one replica of the ping stack needs. */
export interface PingStackOptions {
  natsUrl: string;
  gatewayCreds: string;
  nodesCreds: string;
  databaseUrl: string;
  signer: AccountSigner;
}

/** One gateway (with the bench route) and one stub nodes service: one replica of each. */
export interface PingStack {
  gateway: GatewayApp;
  service: INestMicroservice;
  close(): Promise<void>;
}

export async function startPingStack(options: PingStackOptions): Promise<PingStack> {
  const service = await startServiceApp(
    'nodes',
    {
      module: class BenchNodesStub {},
      imports: [MessagingModule.forRoot({ service: 'nodes', nats: { servers: options.natsUrl, creds: options.nodesCreds } })],
      controllers: [BenchPingHandler],
    },
    { servers: options.natsUrl, creds: options.nodesCreds, logger: false },
  );
  const gateway = await createGatewayApp(
    {
      nats: { servers: options.natsUrl, creds: options.gatewayCreds },
      databaseUrl: options.databaseUrl,
      signer: options.signer,
      services: ['nodes'],
      features: [testPrincipalModule(), { module: BenchGatewayModule }],
      logLevel: 'silent',
    },
    0,
    '127.0.0.1',
  );
  return {
    gateway,
    service,
    async close() {
      await gateway.close().catch(() => undefined);
      await service.close().catch(() => undefined);
    },
  };
}
