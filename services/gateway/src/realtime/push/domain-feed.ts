import { Logger } from '@nestjs/common';
import { JSONCodec, type NatsConnection } from 'nats';
import { STREAMS, Subjects, type CloudEvent, type NodeSpec } from '@encedeus/contracts';
import { ConsumeLoop } from '@encedeus/messaging';
import { EVENTS_ROOM, FLEET_ROOM, NODES_AUDIENCE, nodeRoom, serverRoom } from '../rooms/rooms';
import type { ServerOwners } from '../rooms/server-owners';
import type { SocketSessions } from '../sessions/socket-sessions';
import { ServerEvents, type BackupPush, type EventPush, type NodeStatePush, type ServerStatePush } from '../wire';
import type { Pusher } from './pusher';

const codec = JSONCodec<CloudEvent>();

/** The state a server is in after each event (as services/nodes' evolveServer); absent: no state change. */
const SERVER_STATE_AFTER: Record<string, (data: Record<string, unknown>) => string | undefined> = {
  'server.created': () => 'installing',
  'server.install_started': () => 'installing',
  'server.installed': (d) => (d.success ? 'offline' : 'install_failed'),
  'server.start_requested': () => 'starting',
  'server.starting': () => 'starting',
  'server.running': () => 'running',
  'server.stop_requested': () => 'stopping',
  'server.stopping': () => 'stopping',
  'server.stopped': () => 'offline',
  'server.killed': () => 'offline',
  'server.crashed': () => 'crashed',
  'server.restarted': (d) => (d.by === 'policy' ? 'starting' : undefined),
  'server.deleted': () => 'deleted',
};

/**
 * Every new event of stream EVENTS, read by one ordered consumer per instance starting at the
 * stream's end (ConsumeLoop: after a consumer failure it resumes right after the last event, so no
 * push is lost): node and server state pushes, the `events` room, the server-owner cache, and the
 * identity re-checks (evt.user / evt.role / evt.apikey / evt.session). Per instance on purpose: each
 * gateway pushes to its own sockets, so a client on any gateway gets every push.
 */
export class DomainFeed {
  private readonly logger = new Logger('realtime');
  private loop?: ConsumeLoop;
  /** Last known online state of each node, for spec reports. */
  private readonly nodeStates = new Map<string, 'online' | 'offline'>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly pusher: Pusher,
    private readonly owners: ServerOwners,
    private readonly sessions: SocketSessions,
  ) {}

  /** Resolves once the consumer exists, so every event appended afterwards is seen. */
  async start(): Promise<void> {
    this.loop = ConsumeLoop.ordered(this.nc, {
      name: 'realtime',
      stream: STREAMS.events,
      filterSubject: Subjects.allEvents,
      from: 'new',
      handle: (m) => {
        try {
          this.handle(m.subject, m.seq, codec.decode(m.data));
        } catch (error) {
          this.logger.warn(`realtime: event ${m.seq} on ${m.subject} skipped: ${(error as Error).message}`);
        }
      },
    });
    await this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
  }

  handle(subject: string, sequence: number, event: CloudEvent): void {
    const [, aggregate, id] = subject.split('.');
    switch (aggregate) {
      case 'user':
      case 'role':
      case 'apikey':
        this.sessions.identityChanged(aggregate, id);
        break;
      case 'session':
        // A logout is a fact of the user's session aggregate (evt.session.<userId>): re-check that user's sockets.
        this.sessions.identityChanged('user', id);
        break;
      case 'node':
        this.node(id, event);
        break;
      case 'server':
        this.owners.observe(id, event);
        this.server(id, event);
        break;
      case 'backup':
        this.backup(id, event);
        break;
    }
    const push: EventPush = { sequence, event };
    this.pusher.push(EVENTS_ROOM, ServerEvents.event, push);
  }

  private node(nodeId: string, event: CloudEvent): void {
    let state: NodeStatePush['state'] | undefined;
    let spec: NodeSpec | undefined;
    switch (event.type) {
      case 'node.created':
      case 'node.went_offline':
        state = 'offline';
        break;
      case 'node.came_online':
        state = 'online';
        break;
      case 'node.spec_reported':
        // The agent reports its spec when it boots, so it is talking to us.
        state = this.nodeStates.get(nodeId) ?? 'online';
        spec = (event.data as { spec?: NodeSpec }).spec;
        break;
      case 'node.deleted':
        this.nodeStates.delete(nodeId);
        state = 'deleted';
        break;
    }
    if (!state) return;
    if (state !== 'deleted') this.nodeStates.set(nodeId, state);
    const push: NodeStatePush = { nodeId, state, ...(spec ? { spec } : {}), event: event.type, at: event.time };
    this.pusher.push(FLEET_ROOM, ServerEvents.nodeState, push, NODES_AUDIENCE);
    this.pusher.push(nodeRoom(nodeId), ServerEvents.nodeState, push);
  }

  /** Backup progress and outcomes to the server's room, to members who may read its backups; the manifest's chunk list is left out. */
  private backup(backupId: string, event: CloudEvent): void {
    const { server_id: serverId, ...data } = (event.data ?? {}) as Record<string, unknown>;
    if (typeof serverId !== 'string') return;
    delete data.manifest;
    const push: BackupPush = { serverId, backupId, event: event.type, data, at: event.time };
    this.pusher.push(serverRoom(serverId), ServerEvents.serverBackup, push, (p) => this.owners.watches(p, serverId, 'backups.read'));
  }

  private server(serverId: string, event: CloudEvent): void {
    const state = SERVER_STATE_AFTER[event.type]?.((event.data ?? {}) as Record<string, unknown>);
    if (!state) return;
    const push: ServerStatePush = { serverId, state, event: event.type, at: event.time };
    this.pusher.push(serverRoom(serverId), ServerEvents.serverState, push);
    // Lists and the dashboard follow every server from `fleet`; each member gets only the servers it sees.
    this.pusher.push(FLEET_ROOM, ServerEvents.serverState, push, (p) => this.owners.sees(p, serverId));
  }
}
