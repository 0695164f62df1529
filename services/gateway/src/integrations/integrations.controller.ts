import { Body, Controller, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { DomainError, event, integrationCredentialsIssued } from '@encedeus/contracts';
import { EventStore, integratorConsumerNames, integratorPermissions, mintUserCreds } from '@encedeus/messaging';
import { CurrentPrincipal, RequirePermission, type Principal } from '@encedeus/security';
import { randomUUID } from 'node:crypto';

import { GATEWAY_OPTIONS, type GatewayOptions } from '../gateway.options';

const request = z.object({
  name: z.string().regex(/^[a-z0-9_-]{1,40}$/, 'lower-case letters, digits, _ and -, at most 40'),
  filter: z
    .string()
    .regex(/^evt(\.([a-z]+|\*))?(\.([A-Za-z0-9_-]+|\*|>))?$|^evt\.>$/, 'a subject filter under evt., e.g. evt.> or evt.server.>')
    .optional(),
  expiresInHours: z.number().int().min(1).max(24 * 365).default(24 * 30),
});
class IssueCredentials extends createZodDto(request) {}

/** `POST /api/v1/integrations/nats-credentials`: read-only NATS credentials for integrators (docs/integrations.md). */
@ApiTags('integrations')
@Controller('integrations')
export class IntegrationsController {
  constructor(
    @Inject(GATEWAY_OPTIONS) private readonly options: GatewayOptions,
    private readonly store: EventStore,
  ) {}

  @RequirePermission('integrations.manage')
  @Post('nats-credentials')
  @HttpCode(201)
  async issue(@Body() body: IssueCredentials, @CurrentPrincipal() principal: Principal) {
    if (!this.options.signer) throw new DomainError('SERVICE_UNAVAILABLE', 'This gateway has no account signing key configured');
    const filter = body.filter ?? 'evt.>';
    const expiresAt = new Date(Date.now() + body.expiresInHours * 3600_000);
    const permissions = integratorPermissions(body.name, filter);
    const creds = await mintUserCreds(this.options.signer, `integration-${body.name}`, permissions, { expiresInSeconds: body.expiresInHours * 3600 });
    const id = randomUUID();
    await this.store.append('integration', id, 0, [event(integrationCredentialsIssued, { name: body.name, filter, expiresAt: expiresAt.toISOString() })], {
      actor: principal.actor,
    });
    const servers = this.options.publicNatsUrl ?? (Array.isArray(this.options.nats.servers) ? this.options.nats.servers[0] : this.options.nats.servers);
    return {
      id,
      name: body.name,
      filter,
      expiresAt: expiresAt.toISOString(),
      servers,
      consumerNames: integratorConsumerNames(body.name),
      creds,
    };
  }
}

