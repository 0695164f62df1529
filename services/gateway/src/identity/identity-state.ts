import {
  ApiKeyCreated,
  ApiKeyRevoked,
  RoleCreated,
  RoleDeleted,
  RoleUpdated,
  UserCreated,
  UserDeleted,
  UserLoggedOut,
  UserRoleAssigned,
  UserUpdated,
  isPermission,
  roleNameMatches,
  type CloudEvent,
  type EventData,
  type Permission,
  type UserView,
} from '@encedeus/contracts';

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
  /**
   * When the password last changed (ms since epoch): access tokens issued before it are refused,
   * except those of `keptSessionId` (the changer's own session).
   */
  tokensValidAfter?: number;
  keptSessionId?: string;
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

/** The aggregates whose events change identity; events of every other aggregate are skipped unread. */
export const IDENTITY_AGGREGATES: ReadonlySet<string> = new Set(['user', 'role', 'apikey', 'session']);

/** Whether an EVENTS subject (`evt.<aggregate>.<id>`) may change identity, decided without decoding the event. */
export function isIdentitySubject(subject: string): boolean {
  if (!subject.startsWith('evt.')) return false;
  const dot = subject.indexOf('.', 4);
  return dot > 0 && IDENTITY_AGGREGATES.has(subject.slice(4, dot));
}

/**
 * Users → roles → permissions, disabled flags, API keys and revoked sessions, folded from identity
 * events. The one fold of the gateway's identity: the Postgres projection (gateway.identity_*) and
 * the in-memory cache of every gateway instance both run it, so they cannot disagree. Pure: no I/O.
 */
export class IdentityState {
  readonly users = new Map<string, UserEntry>();
  readonly roles = new Map<string, RoleEntry>();
  readonly keys = new Map<string, ApiKeyEntry>();
  /** Refresh-token families revoked by logout or reuse; their access tokens are refused. */
  readonly revokedSessions = new Set<string>();

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
    const { roleIds: _roleIds, tokensValidAfter: _after, keptSessionId: _kept, ...rest } = user;
    return { ...rest, roles };
  }

  /** The one role `name` names (roleNameMatches: ASCII case aside, as the users service matches), or undefined. */
  roleByName(name: string): RoleEntry | undefined {
    const named = [...this.roles.values()].filter((role) => roleNameMatches(role.name, name));
    return named.length === 1 ? named[0] : undefined;
  }

  /**
   * Folds one event; events of other aggregates are skipped. Entries are replaced, never changed in
   * place, so a reader holding an entry never sees it half updated.
   */
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
        const next: UserEntry = { ...u, updatedAt: e.time, version };
        if (d.name !== undefined) next.name = d.name;
        if (d.email !== undefined) next.email = d.email;
        if (d.disabled !== undefined) next.disabled = d.disabled;
        if (d.otpEnabled !== undefined) next.otpEnabled = d.otpEnabled;
        if (d.picture !== undefined) next.hasPicture = d.picture !== null;
        if (d.passwordChanged) {
          next.tokensValidAfter = Date.parse(e.time);
          next.keptSessionId = d.keptSessionId;
        }
        this.users.set(d.userId, next);
        return;
      }
      case UserRoleAssigned.type: {
        const d = e.data as EventData<typeof UserRoleAssigned>;
        const u = this.users.get(d.userId);
        if (u) this.users.set(d.userId, { ...u, roleIds: d.roleIds, updatedAt: e.time, version });
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
        const next: RoleEntry = { ...r, version };
        if (d.name !== undefined) next.name = d.name;
        if (d.permissions !== undefined) next.permissions = d.permissions.filter(isPermission);
        this.roles.set(d.roleId, next);
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
        const id = (e.data as EventData<typeof ApiKeyRevoked>).keyId;
        const k = this.keys.get(id);
        if (k) this.keys.set(id, { ...k, revoked: true });
        return;
      }
      default:
        // Session facts recorded on evt.user.<id> before the session aggregate existed still moved
        // the user's version (its ETag); on evt.session.<id> they do not.
        this.bumpUser(e, version);
    }
  }

  private bumpUser(e: CloudEvent, version: number): void {
    if (!e.subject.startsWith('user/')) return;
    const id = e.subject.slice('user/'.length);
    const u = this.users.get(id);
    if (u) this.users.set(id, { ...u, version });
  }
}
