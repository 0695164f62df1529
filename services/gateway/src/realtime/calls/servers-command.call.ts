import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { text } from '@encedeus/contracts';
import { ForbiddenError } from '@encedeus/contracts';
import { CommandClient } from '@encedeus/messaging';
import type { Principal } from '@encedeus/security';
import { ServerOwners } from '../rooms/server-owners';
import type { CallContext, CallOutcome, RealtimeCall } from './call';

const paramsSchema = z.object({
  serverId: text().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a server id'),
  command: text().min(1).max(4096),
});
type Params = z.infer<typeof paramsSchema>;

/**
 * `servers.command { serverId, command }`: one line to the server's console input. Decided by
 * contracts' canControlServer(…, 'console') as `POST /servers/:id/command` is: servers.console,
 * and owning the server or servers.manage (seeing every server is not enough). Goes through `cmd.nodes.server_command`, which checks
 * that the server runs; its output arrives in room `server:<id>` as console lines.
 */
@Injectable()
export class ServersCommandCall implements RealtimeCall<Params> {
  readonly name = 'servers.command';
  readonly params = paramsSchema;

  constructor(
    private readonly commands: CommandClient,
    private readonly owners: ServerOwners,
  ) {}

  async authorize(principal: Principal, params: Params): Promise<void> {
    if (!principal.permissions.has('servers.console')) throw new ForbiddenError('Console commands need the servers.console permission', { missing: ['servers.console'] });
    await this.owners.authorizeControl(principal, params.serverId, 'console');
  }

  async run(ctx: CallContext, params: Params): Promise<CallOutcome> {
    await this.commands.send('nodes', 'server_command', { id: params.serverId, command: params.command }, ctx.meta);
    return { success: true };
  }
}
