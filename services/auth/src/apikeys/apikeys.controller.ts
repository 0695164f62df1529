import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import {
  AuthVerbs,
  createApiKeyCommandSchema,
  listApiKeysCommandSchema,
  NotFoundError,
  resolveApiKeyCommandSchema,
  revokeApiKeyCommandSchema,
  Subjects,
  userIdCommandSchema,
  type ApiKeyView,
} from '@encedeus/contracts';
import { metaFromHeaders } from '@encedeus/messaging';
import { ApiKeysService } from './apikeys.service';

/**
 * `cmd.auth.apikey_*`. Authorisation (who may create a key for whom, and that a key never holds
 * more than its owner) is decided by the gateway, which holds the effective permissions.
 */
@Controller()
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @MessagePattern(Subjects.command('auth', AuthVerbs.apiKeyCreate))
  create(@Payload() payload: unknown, @Ctx() ctx: NatsContext) {
    return this.keys.create(createApiKeyCommandSchema.parse(payload), metaFromHeaders(ctx.getHeaders()).actor);
  }

  @MessagePattern(Subjects.command('auth', AuthVerbs.apiKeyList))
  list(@Payload() payload: unknown) {
    const q = listApiKeysCommandSchema.parse(payload ?? {});
    return this.keys.list(q.ownerId, q.limit, q.cursor);
  }

  @MessagePattern(Subjects.command('auth', AuthVerbs.apiKeyGet))
  get(@Payload() payload: unknown): Promise<ApiKeyView> {
    return this.keys.get(userIdCommandSchema.parse(payload).id);
  }

  @MessagePattern(Subjects.command('auth', AuthVerbs.apiKeyRevoke))
  async revoke(@Payload() payload: unknown, @Ctx() ctx: NatsContext) {
    const cmd = revokeApiKeyCommandSchema.parse(payload);
    if (cmd.ownerId && (await this.keys.get(cmd.id)).ownerId !== cmd.ownerId) throw new NotFoundError('API key', cmd.id);
    return this.keys.revoke(cmd.id, metaFromHeaders(ctx.getHeaders()).actor);
  }

  @MessagePattern(Subjects.command('auth', AuthVerbs.apiKeyResolve))
  resolve(@Payload() payload: unknown) {
    return this.keys.resolve(resolveApiKeyCommandSchema.parse(payload).keyHash);
  }
}
