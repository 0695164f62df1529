import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { JSONCodec, type ConsumerMessages, type NatsConnection } from 'nats';
import {
  ApiKeyCreated,
  ApiKeyRevoked,
  RoleCreated,
  RoleDeleted,
  RoleUpdated,
  STREAMS,
  UserCreated,
  UserDeleted,
  UserLoggedOut,
  UserRoleAssigned,
  UserUpdated,
  isPermission,
  type CloudEvent,
  type EventData,
  type Permission,
  type UserView,
} from '@encedeus/contracts';
import { ensureStreams, NATS_CONNECTION } from '@encedeus/messaging';

export interface UserEntry {
  id: string;
  name: string;
  email: string | null;
  roleIds: string[];
  disabled: boolean;
  serviceAccount: boolean;
  otpEnabled: boolean;
  hasPicture: boolean;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface RoleEntry {
  id: string;
  name: string;
  permissions: Permission[];
  builtIn: boolean;
  version: number;
}

export interface ApiKeyEntry {
  id: string;
  ownerId: string;
  permissions: Permission[];
  /** ms since epoch, or null for never. */
  expiresAt: number | null;
  revoked: boolean;
}

const codec = JSONCodec<CloudEvent>();

/**
 * The gateway's in-memory projection of identity: users → roles → permissions, disabled flags,
 * API keys and revoked sessions. Built from EVENTS by an ordered (ephemeral) consumer that replays
 * from the start at boot and then follows live, so a role change, a disabled user or a revoked key
 * counts on the very next request. Writes wait on `waitFor(sequence)` before answering
 * (read-your-writes).
 */
@Injectable()
export class IdentityProjection implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('IdentityProjection');
  readonly users = new Map<string, UserEntry>();
  readonly roles = new Map<string, RoleEntry>();
  readonly keys = new Map<string, ApiKeyEntry>();
  /** Refresh-token families revoked by logout or reuse; their access tokens are refused. */
  readonly revokedSessions = new Set<string>();
  private applied = 0;
  private stopped = false;
  private messages?: ConsumerMessages;
  private readonly waiters = new Set<{ sequence: number; done: () => void }>();

  constructor(@Inject(NATS_CONNECTION) private readonly nc: NatsConnection) {}

  get position(): number {
    return this.applied;
  }

  /** Replays EVENTS up to its current end before the gateway serves (so nobody is wrongly refused at boot). */
  async onModuleInit(): Promise<void> {
    const jsm = await this.nc.jetstreamManager();
    await ensureStreams(jsm, [STREAMS.events]);
    const last = (await jsm.streams.info(STREAMS.events)).state.last_seq;
    void this.follow();
    if (last > 0 && !(await this.waitFor(last, 30_000))) this.logger.warn(`identity projection not caught up with ${last} at boot`);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await this.messages?.close().catch(() => undefined);
  }

  /** Resolves true once `sequence` is applied, false after timeoutMs. */
  waitFor(sequence: number | undefined, timeoutMs = 5000): Promise<boolean> {
    if (!sequence || this.applied >= sequence) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { sequence, done: () => { clearTimeout(timer); resolve(true); } };
      const timer = setTimeout(() => { this.waiters.delete(waiter); resolve(false); }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  permissionsOf(user: UserEntry): Set<Permission> {
    const result = new Set<Permission>();
    for (const roleId of user.roleIds) for (const p of this.roles.get(roleId)?.permissions ?? []) result.add(p);
    return result;
  }

  userView(user: UserEntry): UserView {
    const roles = user.roleIds
      .map((id) => this.roles.get(id))
      .filter((r): r is RoleEntry => !!r)
      .map((r) => ({ id: r.id, name: r.name }))
      .sort((a, b) => a.name.localeCompare(b.name));
    const { roleIds: _roleIds, ...rest } = user;
    return { ...rest, roles };
  }

  roleByName(name: string): RoleEntry | undefined {
    const lower = name.toLowerCase();
    for (const role of this.roles.values()) if (role.name.toLowerCase() === lower) return role;
    return undefined;
  }

  private async follow(): Promise<void> {
    while (!this.stopped) {
      try {
        const consumer = await this.nc.jetstream().consumers.get(STREAMS.events, { filterSubjects: 'evt.>', opt_start_seq: this.applied + 1 });
        this.messages = await consumer.consume({ max_messages: 1000 });
        for await (const m of this.messages) {
          if (m.seq <= this.applied) continue;
          try {
            this.apply(codec.decode(m.data));
          } catch (error) {
            this.logger.error(`cannot apply event ${m.seq}: ${(error as Error).message}`);
          }
          this.applied = m.seq;
          for (const waiter of this.waiters) {
            if (this.applied >= waiter.sequence) {
              this.waiters.delete(waiter);
              waiter.done();
            }
          }
        }
      } catch (error) {
        if (this.stopped) return;
        this.logger.warn(`event consumer failed, resuming after ${this.applied}: ${(error as Error).message}`);
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Folds one event; events of other aggregates are skipped. */
  apply(e: CloudEvent): void {
    const version = e.aggregateversion;
    switch (e.type) {
      case UserCreated.type: {
        const d = e.data as EventData<typeof UserCreated>;
        this.users.set(d.userId, {
          id: d.userId, name: d.name, email: d.email, roleIds: d.roleIds, disabled: d.disabled, serviceAccount: d.serviceAccount,
          otpEnabled: d.otpEnabled, hasPicture: false, createdAt: e.time, updatedAt: e.time, version,
        });
        return;
      }
      case UserUpdated.type: {
        const d = e.data as EventData<typeof UserUpdated>;
        const u = this.users.get(d.userId);
        if (!u) return;
        if (d.name !== undefined) u.name = d.name;
        if (d.email !== undefined) u.email = d.email;
        if (d.disabled !== undefined) u.disabled = d.disabled;
        if (d.otpEnabled !== undefined) u.otpEnabled = d.otpEnabled;
        if (d.picture !== undefined) u.hasPicture = d.picture !== null;
        u.updatedAt = e.time;
        u.version = version;
        return;
      }
      case UserRoleAssigned.type: {
        const d = e.data as EventData<typeof UserRoleAssigned>;
        const u = this.users.get(d.userId);
        if (!u) return;
        u.roleIds = d.roleIds;
        u.updatedAt = e.time;
        u.version = version;
        return;
      }
      case UserDeleted.type:
        this.users.delete((e.data as EventData<typeof UserDeleted>).userId);
        return;
      case UserLoggedOut.type:
        this.revokedSessions.add((e.data as EventData<typeof UserLoggedOut>).familyId);
        this.bumpUser(e, version);
        return;
      case RoleCreated.type: {
        const d = e.data as EventData<typeof RoleCreated>;
        this.roles.set(d.roleId, { id: d.roleId, name: d.name, permissions: d.permissions.filter(isPermission), builtIn: d.builtIn, version });
        return;
      }
      case RoleUpdated.type: {
        const d = e.data as EventData<typeof RoleUpdated>;
        const r = this.roles.get(d.roleId);
        if (!r) return;
        if (d.name !== undefined) r.name = d.name;
        if (d.permissions !== undefined) r.permissions = d.permissions.filter(isPermission);
        r.version = version;
        return;
      }
      case RoleDeleted.type:
        this.roles.delete((e.data as EventData<typeof RoleDeleted>).roleId);
        return;
      case ApiKeyCreated.type: {
        const d = e.data as EventData<typeof ApiKeyCreated>;
        this.keys.set(d.keyId, {
          id: d.keyId, ownerId: d.ownerId, permissions: d.permissions.filter(isPermission),
          expiresAt: d.expiresAt ? Date.parse(d.expiresAt) : null, revoked: false,
        });
        return;
      }
      case ApiKeyRevoked.type: {
        const k = this.keys.get((e.data as EventData<typeof ApiKeyRevoked>).keyId);
        if (k) k.revoked = true;
        return;
      }
      default:
        // Logins and failed logins still move the user's version (its ETag).
        if (e.subject.startsWith('user/')) this.bumpUser(e, version);
    }
  }

  private bumpUser(e: CloudEvent, version: number): void {
    const u = this.users.get(e.subject.slice('user/'.length));
    if (u) u.version = version;
  }
}
