import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { SERVER_FILE_ARGS, serverFilesCommandSchema, ServiceUnavailableError, Subjects, type ServerFileVerb } from '@encedeus/contracts';
import { EventStore } from '@encedeus/messaging';
import { AgentClient } from '@encedeus/fleet';
import { assertServer, serverDecider, type FileChange } from '../domain/server.decider';
import { Liveness } from '../liveness/liveness';
import { commandMeta } from '../common/meta';
import { ServerReports } from './server-reports.handler';

/** How long the agent may take per verb: archives walk whole trees, the rest is one syscall or a few. */
const TIMEOUT_MS: Partial<Record<ServerFileVerb, number>> = { compress: 300_000, decompress: 300_000, delete: 120_000, copy: 120_000 };

/** Paths as the audit log shows them: from the server's root, like SFTP's (`a.txt` is `/a.txt`). */
const rooted = (path: string): string => (path.startsWith('/') ? path : `/${path}`);

/**
 * What a verb the agent carried out changed, for server.files_changed (reads change nothing). `args`
 * are the parsed arguments, `reply` the agent's answer (a copy's and a compress's new path).
 */
function changesOf(verb: ServerFileVerb, args: any, reply: any): FileChange[] {
  switch (verb) {
    case 'list':
    case 'contents':
    case 'open_read':
    case 'open_write':
      // An upload is visible only once committed (until then a hidden temporary file).
      return [];
    case 'commit_write':
      return [{ op: 'write', path: rooted(args.path) }];
    case 'write':
    case 'mkdir':
    case 'chmod':
    case 'decompress':
      return [{ op: verb, path: rooted(args.path) }];
    case 'rename':
      return [{ op: 'rename', path: rooted(args.from), to: rooted(args.to) }];
    case 'copy':
      return [{ op: 'copy', path: rooted(args.path), to: rooted(reply.name) }];
    case 'compress':
      return [{ op: 'compress', path: rooted(reply.name) }];
    case 'delete':
      // Missing paths are skipped by the agent; when none was there nothing changed.
      return reply.deleted > 0 ? (args.paths as string[]).map((path) => ({ op: 'remove' as const, path: rooted(path) })) : [];
  }
}

/**
 * The server file manager's hop (issue 11): the gateway checked the caller against contracts'
 * canControlServer; here the server is found, its node must be online, and the verb goes to that
 * agent as `agent.<nodeId>.cmd.fs.<verb>`, whose jail resolves every path. A change the agent made
 * is recorded as server.files_changed (`via: rest`) by the caller, as SFTP's are; a failed verb and
 * reads record nothing.
 */
@Controller()
export class ServerFileCommands {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(Liveness) private readonly liveness: Liveness,
    @Inject(ServerReports) private readonly reports: ServerReports,
  ) {}

  @MessagePattern(Subjects.command('nodes', 'server_files'))
  async files(@Payload() data: unknown, @Ctx() ctx: NatsContext): Promise<unknown> {
    const { id, verb, args } = serverFilesCommandSchema.parse(data);
    const parsed = SERVER_FILE_ARGS[verb].parse(args) as Record<string, unknown>;
    const { actor, correlationId } = commandMeta(ctx);
    const { state } = await this.store.load('server', id, serverDecider);
    assertServer(state, id);
    if (!this.liveness.isOnline(state.node_id)) throw new ServiceUnavailableError(`The node of server ${id} is offline; its files cannot be reached`, { node_id: state.node_id });
    const reply = await this.agents.request(state.node_id, `fs.${verb}`, { ...parsed, server_id: id }, TIMEOUT_MS[verb] ?? 15_000);
    // If-Match and Idempotency-Key are about the file verb, not this record: only who and why travel on.
    await this.reports.filesChanged(id, state.node_id, 'rest', changesOf(verb, parsed, reply), { actor, correlationId });
    // A transfer's bytes go between the caller and that agent directly (agent.<nodeId>.xfer.…): it needs the node.
    return verb === 'open_read' || verb === 'open_write' ? { ...(reply as object), node_id: state.node_id } : reply;
  }
}
