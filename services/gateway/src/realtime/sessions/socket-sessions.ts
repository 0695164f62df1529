import { Logger } from '@nestjs/common';
import type { Server, Socket } from 'socket.io';
import { DomainError, UnauthenticatedError, type ErrorCode } from '@encedeus/contracts';
import type { Principal, PrincipalResolver } from '@encedeus/security';
import { ServerEvents, type Ack, type Revoked } from '../wire';

/** What the gateway keeps on each socket (`socket.data`). */
export interface SessionData {
  principal: Principal;
  /** `Bearer <token>` as the resolver takes it. */
  authorization: string;
  warnTimer?: NodeJS.Timeout;
  expireTimer?: NodeJS.Timeout;
}

export function sessionOf(socket: Socket): Partial<SessionData> {
  return socket.data as Partial<SessionData>;
}

// setTimeout fires at once for delays above 2^31-1 ms; longer waits are re-armed in steps.
const MAX_DELAY = 2 ** 31 - 1;
// The gateway's identity projection applies the same event beside us; checking again a little
// later covers its lag and still disconnects within a second.
const RECHECK_DELAYS_MS = [0, 250, 750];
const RECHECK_BATCH = 200;

const AUTH_CODES = new Set<ErrorCode>(['UNAUTHENTICATED', 'TOKEN_EXPIRED']);

/**
 * The principal behind each socket: resolved at the handshake, warned before the token expires,
 * replaced by `reauth`, and re-resolved when identity changes (events on evt.user/role/apikey)
 * plus a slow sweep. A principal the resolver now rejects is disconnected after `revoked`.
 */
export class SocketSessions {
  private readonly logger = new Logger('realtime');
  private readonly scheduled = new Map<string, NodeJS.Timeout[]>();
  private sweepTimer?: NodeJS.Timeout;
  private sweeping = false;

  constructor(
    private readonly io: Server,
    private readonly resolver: () => PrincipalResolver,
    private readonly options: { expiryWarningMs: number; sweepIntervalMs: number },
    /** Called after a socket's principal changed (permissions may have shrunk). */
    private readonly onPrincipalChanged: (socket: Socket) => void,
  ) {}

  start(): void {
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  stop(): void {
    clearInterval(this.sweepTimer);
    for (const timers of this.scheduled.values()) timers.forEach(clearTimeout);
    this.scheduled.clear();
  }

  /** Resolves a handshake or reauth token; throws a DomainError with UNAUTHENTICATED or TOKEN_EXPIRED. */
  async authenticate(token: unknown): Promise<Pick<SessionData, 'principal' | 'authorization'>> {
    if (typeof token !== 'string' || token.trim() === '') throw new UnauthenticatedError('auth.token is required');
    const authorization = /^Bearer\s/i.test(token) ? token : `Bearer ${token}`;
    const principal = await this.resolver().resolve(authorization);
    if (!principal) throw new UnauthenticatedError();
    if (principal.expiresAt !== undefined && principal.expiresAt * 1000 <= Date.now()) throw new DomainError('TOKEN_EXPIRED', 'The token has expired');
    return { principal, authorization };
  }

  /** Starts watching a connected socket's token expiry. */
  attach(socket: Socket): void {
    this.armExpiry(socket);
  }

  detach(socket: Socket): void {
    const data = sessionOf(socket);
    clearTimeout(data.warnTimer);
    clearTimeout(data.expireTimer);
  }

  /** `reauth { token }`: a fresh token of the same principal, without reconnecting. */
  async reauth(socket: Socket, token: string): Promise<Ack> {
    const data = sessionOf(socket);
    let next: Pick<SessionData, 'principal' | 'authorization'>;
    try {
      next = await this.authenticate(token);
    } catch (error) {
      return errorAck(error);
    }
    const current = data.principal!;
    if (next.principal.kind !== current.kind || next.principal.userId !== current.userId) {
      return { error: 'The token belongs to another account; reconnect to switch accounts', code: 'FORBIDDEN' };
    }
    if (!socket.connected) return { error: 'The socket is closed', code: 'UNAUTHENTICATED' };
    Object.assign(data, next);
    this.armExpiry(socket);
    this.onPrincipalChanged(socket);
    return next.principal.expiresAt === undefined ? { ok: true } : { ok: true, expiresAt: isoOf(next.principal.expiresAt) };
  }

  /**
   * An identity aggregate changed: re-resolve the sockets it can affect now and twice more
   * within the next second. A role change can affect anyone.
   */
  identityChanged(aggregate: string, id: string): void {
    const key = `${aggregate}:${id}`;
    for (const timer of this.scheduled.get(key) ?? []) clearTimeout(timer);
    const timers = RECHECK_DELAYS_MS.map((delay, n) =>
      setTimeout(() => {
        if (n === RECHECK_DELAYS_MS.length - 1) this.scheduled.delete(key);
        void this.recheckAll(this.affectedBy(aggregate, id));
      }, delay),
    );
    this.scheduled.set(key, timers);
  }

  /** Re-resolves one socket; disconnects it when the resolver rejects its token. */
  async recheck(socket: Socket): Promise<void> {
    const data = sessionOf(socket);
    const authorization = data.authorization;
    if (!authorization || !socket.connected) return;
    try {
      const principal = await this.resolver().resolve(authorization);
      if (!principal) throw new UnauthenticatedError();
      // A reauth that landed meanwhile wins.
      if (data.authorization !== authorization || !socket.connected) return;
      data.principal = principal;
      this.onPrincipalChanged(socket);
    } catch (error) {
      if (data.authorization !== authorization) return;
      const code = (error as DomainError).code;
      if (AUTH_CODES.has(code)) this.revoke(socket, (error as Error).message, code as Revoked['code']);
      // Anything else (identity unreachable) keeps the socket; the next check decides.
      else this.logger.warn(`realtime: re-check of socket ${socket.id} failed: ${(error as Error).message}`);
    }
  }

  /** Tells the client why, then disconnects it. */
  revoke(socket: Socket, reason: string, code: Revoked['code']): void {
    if (!socket.connected) return;
    const revoked: Revoked = { reason, code };
    socket.emit(ServerEvents.revoked, revoked);
    socket.disconnect(true);
  }

  /** Re-resolves every local socket (the safety net beside identity events). */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      await this.recheckAll([...this.io.of('/').sockets.values()]);
    } finally {
      this.sweeping = false;
    }
  }

  private async recheckAll(sockets: Socket[]): Promise<void> {
    for (let i = 0; i < sockets.length; i += RECHECK_BATCH) {
      await Promise.all(sockets.slice(i, i + RECHECK_BATCH).map((s) => this.recheck(s)));
      // Let pushes through between batches.
      if (i + RECHECK_BATCH < sockets.length) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private affectedBy(aggregate: string, id: string): Socket[] {
    const all = [...this.io.of('/').sockets.values()];
    if (aggregate === 'user') return all.filter((s) => sessionOf(s).principal?.userId === id);
    if (aggregate === 'apikey') return all.filter((s) => sessionOf(s).principal?.keyId === id);
    return all;
  }

  private armExpiry(socket: Socket): void {
    const data = sessionOf(socket);
    clearTimeout(data.warnTimer);
    clearTimeout(data.expireTimer);
    data.warnTimer = data.expireTimer = undefined;
    const expiresAt = data.principal?.expiresAt;
    if (expiresAt === undefined) return;
    const expiresMs = expiresAt * 1000;
    const at = (when: number, fn: () => void): NodeJS.Timeout => {
      const delay = when - Date.now();
      return delay > MAX_DELAY ? setTimeout(() => this.armExpiry(socket), MAX_DELAY) : setTimeout(fn, Math.max(0, delay));
    };
    data.warnTimer = at(expiresMs - this.options.expiryWarningMs, () => {
      if (sessionOf(socket).principal?.expiresAt === expiresAt) socket.emit(ServerEvents.tokenExpiring, { expiresAt: isoOf(expiresAt) });
    });
    data.expireTimer = at(expiresMs, () => {
      if (sessionOf(socket).principal?.expiresAt === expiresAt) this.revoke(socket, 'The token has expired; it was not renewed with reauth', 'TOKEN_EXPIRED');
    });
  }
}

function isoOf(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}

/** The ack of a failed request, in the error format. */
export function errorAck(error: unknown): Ack {
  if (error instanceof DomainError || (typeof (error as DomainError)?.code === 'string' && error instanceof Error)) {
    return { error: (error as Error).message, code: (error as DomainError).code };
  }
  return { error: 'Internal error', code: 'INTERNAL' };
}
