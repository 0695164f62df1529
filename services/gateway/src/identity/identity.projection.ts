import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { JSONCodec, type JsMsg, type NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { STREAMS, type CloudEvent, type Permission, type UserView } from '@encedeus/contracts';
import { ConsumeLoop, ensureStreams, NATS_CONNECTION, Projector } from '@encedeus/messaging';
import { IdentityState, isIdentitySubject, type ApiKeyEntry, type RoleEntry, type UserEntry } from './identity-state';
import { IdentityTablesProjection, loadIdentity } from './identity-tables.projection';

export type { ApiKeyEntry, RoleEntry, UserEntry } from './identity-state';

const codec = JSONCodec<CloudEvent>();
/** How long boot waits for the cache to reach the end of EVENTS before serving anyway. */
const BOOT_CATCH_UP_MS = 30_000;

/**
 * The gateway's identity: users → roles → permissions, disabled flags, API keys and revoked
 * sessions, read on every request (REST auth, sockets) from memory.
 *
 * - **Shared projection.** A Projector keeps `gateway.identity_*` in Postgres (durable consumer
 *   `gateway_identity`, one checkpoint for every gateway instance; IdentityTablesProjection).
 * - **Per-instance cache.** At boot an instance loads those tables and their checkpoint in one
 *   snapshot, then follows EVENTS from the checkpoint with its own ordered consumer (ConsumeLoop),
 *   folding identity events with the same IdentityState. A boot replays only what the shared
 *   projection has not applied yet, never the whole stream.
 * - **Read-your-writes with N instances.** Every instance reads every event itself, so `waitFor`
 *   waits on this cache's own position: it never depends on another replica's consumer (the trap of a
 *   shared durable, where another instance may take the event). A write through one gateway is seen
 *   by the next request through it at once, and through any other within its consumer's lag
 *   (milliseconds); a revoked key or a logout is refused on the very next request.
 */
@Injectable()
export class IdentityProjection implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('IdentityProjection');
  private state = new IdentityState();
  private applied = 0;
  private loaded = 0;
  private caughtUp = 0;
  private follower?: ConsumeLoop;
  private readonly tables = new IdentityTablesProjection();
  private readonly projector: Projector;
  private readonly waiters = new Set<{ sequence: number; done: () => void }>();

  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    private readonly dataSource: DataSource,
  ) {
    this.projector = new Projector(nc, dataSource, this.tables, { coalesceMs: 50 });
  }

  get users(): Map<string, UserEntry> {
    return this.state.users;
  }

  get roles(): Map<string, RoleEntry> {
    return this.state.roles;
  }

  get keys(): Map<string, ApiKeyEntry> {
    return this.state.keys;
  }

  /** Refresh-token families revoked by logout or reuse; their access tokens are refused. */
  get revokedSessions(): Set<string> {
    return this.state.revokedSessions;
  }

  /** Stream sequence of the last event this instance's cache holds. */
  get position(): number {
    return this.applied;
  }

  /** The shared projection's checkpoint this instance loaded at boot (0: an empty database, EVENTS replayed). */
  get loadedAt(): number {
    return this.loaded;
  }

  /** Where this instance's cache stood when boot ended (the end of EVENTS then, normally). */
  get caughtUpAt(): number {
    return this.caughtUp;
  }

  /**
   * Loads the shared projection and follows EVENTS from its checkpoint up to the stream's end before
   * the gateway serves (so nobody is wrongly refused at boot).
   */
  async onModuleInit(): Promise<void> {
    const jsm = await this.nc.jetstreamManager();
    await ensureStreams(jsm, [STREAMS.events]);
    // start() prepares tables and checkpoint (rebuilding them if EVENTS was recreated) before it returns.
    await this.projector.start();
    const { state, position } = await loadIdentity(this.dataSource, this.tables);
    this.state = state;
    this.applied = position;
    this.loaded = position;
    this.follower = ConsumeLoop.ordered(this.nc, {
      name: 'IdentityProjection',
      stream: STREAMS.events,
      filterSubject: 'evt.>',
      from: { sequence: position + 1 },
      handle: (m) => this.follow(m),
    });
    await this.follower.start();
    const last = (await jsm.streams.info(STREAMS.events)).state.last_seq;
    if (last > this.applied && !(await this.waitFor(last, BOOT_CATCH_UP_MS))) this.logger.warn(`identity not caught up with ${last} at boot`);
    this.caughtUp = this.applied;
    this.logger.log(`identity loaded at sequence ${position} from Postgres, followed to ${this.applied}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.follower?.stop();
    await this.projector.stop();
  }

  /** Resolves true once this instance's cache holds `sequence`, false after timeoutMs. */
  waitFor(sequence: number | undefined, timeoutMs = 5000): Promise<boolean> {
    if (!sequence || this.applied >= sequence) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { sequence, done: () => { clearTimeout(timer); resolve(true); } };
      const timer = setTimeout(() => { this.waiters.delete(waiter); resolve(false); }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  permissionsOf(user: UserEntry): Set<Permission> {
    return this.state.permissionsOf(user);
  }

  userView(user: UserEntry): UserView {
    return this.state.userView(user);
  }

  roleByName(name: string): RoleEntry | undefined {
    return this.state.roleByName(name);
  }

  /** Folds one event into this instance's cache (events of other aggregates are skipped). */
  apply(e: CloudEvent): void {
    this.state.apply(e);
  }

  private follow(m: JsMsg): void {
    if (m.seq <= this.applied) return;
    if (isIdentitySubject(m.subject)) {
      try {
        this.state.apply(codec.decode(m.data));
      } catch (error) {
        // The shared projection parks such an event as a dead letter; the cache goes on likewise.
        this.logger.error(`cannot apply event ${m.seq}: ${(error as Error).message}`);
      }
    }
    this.applied = m.seq;
    for (const waiter of this.waiters) {
      if (this.applied >= waiter.sequence) {
        this.waiters.delete(waiter);
        waiter.done();
      }
    }
  }
}
