import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import { createAdapter } from '@socket.io/postgres-adapter';
import type { NatsConnection } from 'nats';
import { Pool } from 'pg';
import { Gauge } from 'prom-client';
import { Server, type Socket } from 'socket.io';
import { DataSource } from 'typeorm';
import { DomainError, ForbiddenError, STREAMS, ValidationError } from '@encedeus/contracts';
import { ensureStreams, EventStore, lockSchemaMigration, NATS_CONNECTION } from '@encedeus/messaging';
import { PRINCIPAL_RESOLVER, type PrincipalResolver } from '@encedeus/security';
import { GATEWAY_SCHEMA } from '../audit/audit.projection';
import { metricsRegistry } from '../observability/metrics';
import { REALTIME_CALLS, type RealtimeCall } from './calls/call';
import { CallRunner } from './calls/call-runner';
import { REALTIME_OPTIONS, type ResolvedRealtimeOptions } from './realtime.options';
import { ConsoleFeed } from './push/console-feed';
import { DomainFeed } from './push/domain-feed';
import { leaveForbidden, Pusher } from './push/pusher';
import { TelemetryFeed } from './push/telemetry-feed';
import { parseRoom, RoomAccess } from './rooms/rooms';
import { ServerOwners } from './rooms/server-owners';
import { errorAck, sessionOf, SocketSessions } from './sessions/socket-sessions';
import { ClientEvents, roomMessageSchema, tokenMessageSchema, type Ack } from './wire';

const ATTACHMENTS_TABLE = `${GATEWAY_SCHEMA}.socket_io_attachments`;
const MAX_ROOMS_PER_SOCKET = 500;

// One gauge per process, summed over the gateway instances in it (tests run two).
const instances = new Set<RealtimeServer>();
new Gauge({
  name: 'encedeus_gateway_sockets',
  help: 'Connected socket.io clients',
  registers: [metricsRegistry],
  collect() {
    this.set([...instances].reduce((n, s) => n + s.localSockets(), 0));
  },
});

/**
 * socket.io on the gateway's HTTP server (path /socket.io): handshake authentication, rooms
 * checked on join and on every push, NATS-fed projections, and the interactive calls of seed 003.
 * See wire.ts for the protocol.
 */
@Injectable()
export class RealtimeServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('realtime');
  private io?: Server;
  private pool?: Pool;
  private sessions?: SocketSessions;
  private domain?: DomainFeed;
  private telemetry?: TelemetryFeed;
  private consoles?: ConsoleFeed;
  private readonly access: RoomAccess;
  private readonly runner: CallRunner;

  constructor(
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(REALTIME_CALLS) calls: RealtimeCall<any>[],
    private readonly adapterHost: HttpAdapterHost,
    private readonly moduleRef: ModuleRef,
    private readonly dataSource: DataSource,
    private readonly owners: ServerOwners,
    // Injected so stream EVENTS exists before the event feed starts.
    _store: EventStore,
  ) {
    this.access = new RoomAccess(owners);
    this.runner = new CallRunner(calls, options);
  }

  /** The socket.io server (tests and other features: `server().fetchSockets()` spans every instance). */
  server(): Server {
    if (!this.io) throw new Error('realtime: not started');
    return this.io;
  }

  localSockets(): number {
    return this.io?.of('/').sockets.size ?? 0;
  }

  async onApplicationBootstrap(): Promise<void> {
    const io = new Server(this.adapterHost.httpAdapter.getHttpServer(), {
      path: '/socket.io',
      serveClient: false,
      transports: this.options.transports,
      // Tokens travel in the handshake, never in cookies, so any origin may connect.
      cors: { origin: true, credentials: false },
      // jobs.run carries up to 1 MiB of code and 1 MiB of stdin.
      maxHttpBufferSize: 3 * 1024 * 1024,
    });
    this.io = io;
    if (this.options.postgresAdapter) io.adapter(await this.postgresAdapter());

    const resolver = (): PrincipalResolver => this.moduleRef.get<PrincipalResolver>(PRINCIPAL_RESOLVER, { strict: false });
    const pusher = new Pusher(io, this.access);
    this.sessions = new SocketSessions(io, resolver, this.options, (socket) => this.recheckRooms(socket));
    this.consoles = new ConsoleFeed(this.nc, pusher, this.access);
    this.domain = new DomainFeed(this.nc, pusher, this.owners, this.sessions);
    this.telemetry = new TelemetryFeed(this.nc, pusher, this.options.usageIntervalMs, this.owners);
    this.owners.inUse = (serverId) => pusher.size(`server:${serverId}`) > 0;

    await ensureStreams(await this.nc.jetstreamManager(), [STREAMS.console]).catch((error) =>
      this.logger.warn(`realtime: stream CONSOLE is not available, scrollback will be empty: ${(error as Error).message}`),
    );
    await this.domain.start();
    this.telemetry.start();
    this.sessions.start();

    io.of('/').adapter.on('delete-room', (room: string) => {
      const parsed = parseRoom(room);
      if (parsed?.kind === 'server') this.consoles?.release(parsed.id);
    });
    io.use((socket, next) => {
      const token = socket.handshake.auth?.token ?? socket.handshake.headers.authorization;
      this.sessions!.authenticate(token).then(
        (session) => {
          Object.assign(socket.data, session);
          next();
        },
        (error) => {
          const ack = errorAck(error);
          const code = 'code' in ack && ack.code === 'TOKEN_EXPIRED' ? 'TOKEN_EXPIRED' : 'UNAUTHENTICATED';
          next(Object.assign(new Error('error' in ack && ack.code !== 'INTERNAL' ? ack.error : 'Authentication failed'), { data: { code } }));
        },
      );
    });
    io.on('connection', (socket) => this.connected(socket));
    instances.add(this);
  }

  async beforeApplicationShutdown(): Promise<void> {
    instances.delete(this);
    const io = this.io;
    if (!io) return;
    this.sessions?.stop();
    this.telemetry?.stop();
    this.consoles?.stop();
    await this.domain?.stop();
    for (const socket of io.of('/').sockets.values()) socket.disconnect(true);
    await Promise.allSettled([io.of('/').adapter.close()]);
    io.engine.close();
    await this.pool?.end().catch(() => undefined);
    this.io = undefined;
  }

  private connected(socket: Socket): void {
    this.sessions!.attach(socket);
    socket.on(ClientEvents.reauth, (message: unknown, ack?: unknown) => {
      const parsed = tokenMessageSchema.safeParse(message);
      const reply = parsed.success ? this.sessions!.reauth(socket, parsed.data.token) : Promise.resolve(invalid('reauth is { token: string }'));
      void reply.then(answer(ack));
    });
    socket.on(ClientEvents.subscribe, (message: unknown, ack?: unknown) => void this.subscribe(socket, message).then(answer(ack)));
    socket.on(ClientEvents.unsubscribe, (message: unknown, ack?: unknown) => {
      const parsed = roomMessageSchema.safeParse(message);
      if (parsed.success) void socket.leave(parsed.data.room);
      answer(ack)(parsed.success ? { ok: true } : invalid('unsubscribe is { room: string }'));
    });
    socket.on(ClientEvents.call, (message: unknown) => this.runner.start(socket, message));
    socket.on(ClientEvents.cancel, (message: unknown) => this.runner.cancel(socket, message));
    socket.on('disconnect', () => {
      this.sessions!.detach(socket);
      this.runner.cancelAll(socket);
    });
  }

  private async subscribe(socket: Socket, message: unknown): Promise<Ack> {
    const parsed = roomMessageSchema.safeParse(message);
    if (!parsed.success) return invalid('subscribe is { room: string }');
    const room = parseRoom(parsed.data.room);
    if (!room) return invalid(`Unknown room "${parsed.data.room}"; rooms are fleet, events, node:<id>, server:<id>`);
    // Joining a server room again sends its console scrollback again: the console's terminal may be
    // opened after the page had joined the room (issue 14: a blank console after in-app navigation).
    if (socket.rooms.has(room.name) && room.kind !== 'server') return { ok: true };
    if (socket.rooms.size > MAX_ROOMS_PER_SOCKET) return { error: `At most ${MAX_ROOMS_PER_SOCKET} rooms per connection`, code: 'RATE_LIMITED' };
    try {
      const principal = sessionOf(socket).principal!;
      if (room.kind === 'server') {
        await this.owners.authorize(principal, room.id);
        await this.consoles!.join(socket, room.id);
      } else {
        if (!this.access.allowed(principal, room)) throw new ForbiddenError(`Room ${room.name} needs ${room.kind === 'events' ? 'events.read' : 'nodes.read'}`);
        await socket.join(room.name);
      }
      return { ok: true };
    } catch (error) {
      if (!(error instanceof DomainError)) this.logger.error(`realtime: subscribe ${room.name} failed: ${(error as Error)?.stack ?? String(error)}`);
      return errorAck(error);
    }
  }

  /** After a principal changed: leave the rooms it may no longer be in. */
  private recheckRooms(socket: Socket): void {
    const principal = sessionOf(socket).principal;
    if (!principal) return;
    for (const room of socket.rooms) {
      if (room !== socket.id && !this.access.allowedByName(principal, room)) leaveForbidden(socket, room);
    }
  }

  /** `@socket.io/postgres-adapter` on the gateway's database, with its own small pool (LISTEN holds a connection). */
  private async postgresAdapter() {
    const options = this.dataSource.options as { url?: string; host?: string; port?: number; username?: string; password?: string; database?: string };
    const pool = new Pool(
      options.url
        ? { connectionString: options.url, max: 4 }
        : { host: options.host, port: options.port, user: options.username, password: options.password, database: options.database, max: 4 },
    );
    pool.on('error', (error) => this.logger.warn(`realtime: postgres adapter: ${error.message}`));
    this.pool = pool;
    // Under the schema's migration lock: another gateway and the audit projection create it too.
    const client = await pool.connect();
    try {
      await client.query('begin');
      await lockSchemaMigration(client, GATEWAY_SCHEMA);
      await client.query(`create schema if not exists ${GATEWAY_SCHEMA}`);
      await client.query(`create table if not exists ${ATTACHMENTS_TABLE} (id bigserial unique, created_at timestamptz default now(), payload bytea)`);
      await client.query('commit');
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    return createAdapter(pool, {
      tableName: ATTACHMENTS_TABLE,
      errorHandler: (error: Error) => this.logger.warn(`realtime: postgres adapter: ${error.message}`),
    });
  }
}

function invalid(message: string): Ack {
  const error = new ValidationError(message, []);
  return { error: error.message, code: error.code };
}

/** Acks when the client asked for one. */
function answer(ack: unknown): (reply: Ack) => void {
  return (reply) => {
    if (typeof ack === 'function') ack(reply);
  };
}
