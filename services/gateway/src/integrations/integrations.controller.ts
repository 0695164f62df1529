import { Body, Controller, Delete, Get, HttpCode, Inject, Logger, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { AckPolicy, DeliverPolicy, JSONCodec } from 'nats';
import { z } from 'zod';
import { DomainError, event, integrationCredentialsIssued, NotFoundError, readEventData, STREAMS, Subjects, text, ValidationError, type CloudEvent } from '@encedeus/contracts';
import {
  EventStore,
  inboxPrefixFor,
  integratorConsumerNames,
  integratorPermissions,
  integratorUserName,
  mintUserCreds,
  pushAccountRevocations,
  readRange,
  userPubFromCreds,
} from '@encedeus/messaging';
import { CurrentPrincipal, RequirePermission, type Principal } from '@encedeus/security';
import { randomUUID } from 'node:crypto';

import { GATEWAY_OPTIONS, type GatewayOptions } from '../gateway.options';
import { decideRevoke, evolveIntegration, revocationList, type IntegrationState } from './integration.decider';

const codec = JSONCodec<CloudEvent>();

const request = z.object({
  name: text().regex(/^[a-z0-9_-]{1,40}$/, 'lower-case letters, digits, _ and -, at most 40'),
  filter: text()
    .regex(/^evt(\.([a-z]+|\*))?(\.([A-Za-z0-9_-]+|\*|>))?$|^evt\.>$/, 'a subject filter under evt., e.g. evt.> or evt.server.>')
    .optional(),
  expiresInHours: z.number().int().min(1).max(24 * 365).default(24 * 30),
  consumers: z.number().int().min(1).max(8).default(1).describe('how many durable pull consumers to create (one per independent reader)'),
  deliver: z.enum(['all', 'new']).default('all').describe('where the durables start: the oldest event or the next one'),
});
class IssueCredentials extends createZodDto(request) {}

const uuid = new ParseUUIDPipe({ exceptionFactory: () => new ValidationError('id must be a UUID', [{ path: 'id', message: 'must be a UUID' }]) });

/** How an issued credential is listed: never its secret. */
export interface IntegrationView {
  id: string;
  name: string;
  filter: string;
  consumerNames: string[];
  issuedAt: string;
  expiresAt: string;
  revokedAt: string | null;
  status: 'active' | 'expired' | 'revoked';
}

/**
 * `/api/v1/integrations/nats-credentials`: read-only NATS credentials for integrators
 * (docs/integrations.md). The gateway creates each credential's durable pull consumers itself;
 * the credential may only use them, never create, change or delete a consumer.
 */
@ApiTags('integrations')
@Controller('integrations')
export class IntegrationsController {
  private readonly logger = new Logger('integrations');

  constructor(
    @Inject(GATEWAY_OPTIONS) private readonly options: GatewayOptions,
    private readonly store: EventStore,
  ) {}

  // The credentials read every event of their filter: only someone who may read events issues them.
  @RequirePermission('integrations.manage', 'events.read')
  @Post('nats-credentials')
  @HttpCode(201)
  async issue(@Body() body: IssueCredentials, @CurrentPrincipal() principal: Principal) {
    if (!this.options.signer) throw new DomainError('SERVICE_UNAVAILABLE', 'This gateway has no account signing key configured');
    const filter = body.filter ?? Subjects.allEvents;
    const id = randomUUID();
    const expiresAt = new Date(Date.now() + body.expiresInHours * 3600_000);
    const consumerNames = integratorConsumerNames(body.name, id, body.consumers);
    const userName = integratorUserName(body.name, id);
    await this.createDurables(consumerNames, filter, body.deliver, body.expiresInHours * 3600);
    try {
      const creds = await mintUserCreds(this.options.signer, userName, integratorPermissions(consumerNames, filter), { expiresInSeconds: body.expiresInHours * 3600 });
      const data = { name: body.name, filter, expiresAt: expiresAt.toISOString(), userPub: userPubFromCreds(creds), consumerNames };
      await this.store.append('integration', id, 0, [event(integrationCredentialsIssued, data)], { actor: principal.actor });
      return { id, name: body.name, filter, expiresAt: data.expiresAt, servers: this.publicServers(), inboxPrefix: inboxPrefixFor(userName), consumerNames, creds };
    } catch (error) {
      await this.deleteDurables(consumerNames);
      throw error;
    }
  }

  @RequirePermission('integrations.manage')
  @Get('nats-credentials')
  async list(): Promise<{ items: IntegrationView[] }> {
    const now = Date.now();
    const items = [...(await this.load()).values()].map((s): IntegrationView => ({
      id: s.id,
      name: s.name,
      filter: s.filter,
      consumerNames: s.consumerNames,
      issuedAt: s.issuedAt,
      expiresAt: s.expiresAt,
      revokedAt: s.revokedAt ?? null,
      status: s.revokedAt ? 'revoked' : Date.parse(s.expiresAt) <= now ? 'expired' : 'active',
    }));
    return { items };
  }

  /**
   * Revokes the credential on the running servers (the account's revocation list, pushed through
   * the system account; the full resolver keeps it across restarts) and deletes its durables.
   * Repeating it is harmless and re-applies both, so a retry completes a half-done revocation.
   */
  @RequirePermission('integrations.manage')
  @Delete('nats-credentials/:id')
  @HttpCode(204)
  async revoke(@Param('id', uuid) id: string, @CurrentPrincipal() principal: Principal): Promise<void> {
    const admin = this.options.accountAdmin;
    if (!admin) throw new DomainError('SERVICE_UNAVAILABLE', 'This gateway cannot change the NATS account (no account admin file configured)');
    const states = await this.load();
    const state = states.get(id);
    if (!state) throw new NotFoundError('Integration credentials', id);
    const revokedAt = new Date();
    const events = decideRevoke(state, { revokedAt: revokedAt.toISOString() });
    if (events.length) {
      await this.store.append('integration', id, state.version, events, { actor: principal.actor });
      states.set(id, { ...state, revokedAt: revokedAt.toISOString() });
    }
    await pushAccountRevocations(this.options.nats.servers, admin, revocationList(states.values(), revokedAt)).catch((cause: Error) => {
      throw new DomainError('SERVICE_UNAVAILABLE', 'The NATS server did not take the revocation; repeat the request', undefined, { cause });
    });
    await this.deleteDurables(state.consumerNames);
  }

  /** Every issued credential, folded from `evt.integration.>`. */
  private async load(): Promise<Map<string, IntegrationState>> {
    const states = new Map<string, IntegrationState>();
    // readRange ends at once when no integration was ever issued.
    for await (const m of readRange(this.store.nc, { stream: STREAMS.events, filterSubject: Subjects.eventsOf('integration') })) {
      const recorded = codec.decode(m.data);
      recorded.data = readEventData(recorded.type, recorded.data);
      const id = recorded.subject.split('/')[1];
      const next = evolveIntegration(states.get(id), id, recorded);
      if (next) states.set(id, next);
    }
    return states;
  }

  private async createDurables(names: string[], filter: string, deliver: 'all' | 'new', lifetimeSeconds: number): Promise<void> {
    const jsm = await this.store.nc.jetstreamManager();
    for (const name of names) {
      await jsm.consumers.add(STREAMS.events, {
        durable_name: name,
        filter_subject: filter,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: deliver === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
        ack_wait: 30_000_000_000,
        // An integrator that never acknowledges holds at most this many messages on the server.
        max_ack_pending: 1000,
        // Unused for the credential's whole lifetime means the credential has expired: the server
        // then deletes the durable itself (a revocation deletes it at once).
        inactive_threshold: lifetimeSeconds * 1_000_000_000,
      });
    }
  }

  private async deleteDurables(names: string[]): Promise<void> {
    const jsm = await this.store.nc.jetstreamManager();
    for (const name of names) {
      await jsm.consumers.delete(STREAMS.events, name).catch((error: Error) => {
        if (!/not found/i.test(error.message)) this.logger.warn(`could not delete durable ${name}: ${error.message}`);
      });
    }
  }

  private publicServers(): string | string[] {
    return this.options.publicNatsUrl ?? (Array.isArray(this.options.nats.servers) ? this.options.nats.servers[0] : this.options.nats.servers);
  }
}
