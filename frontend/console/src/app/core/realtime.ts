import { Injectable, computed, effect, inject, signal } from '@angular/core';
import { io, Socket } from 'socket.io-client';
import { ApiError, toApiError } from './api-error';
import { Auth } from './auth';
import { backoffDelay } from './backoff';

/** What the connection indicator shows. */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

/** A running seed-003 call: lines stream to the callback, `result` settles exactly once. */
export interface RunningCall<T> {
  readonly id: string;
  readonly result: Promise<T>;
  /** Asks the server to stop; the result still arrives (usually as a failure). */
  cancel(): void;
}

interface PendingCall {
  onLine?: (line: string, stream?: string) => void;
  resolve: (data: unknown) => void;
  reject: (e: ApiError) => void;
}

interface CallLine {
  id: string;
  line: string;
  stream?: string;
}

interface CallResult {
  id: string;
  success: boolean;
  message?: string;
  /** The error code of a failed call (realtime/wire.ts ResultMessage). */
  code?: string;
  data?: unknown;
}

type Handler = (payload: any) => void;

const AUTH_FAILURE = /auth|token|jwt|expired|unauthori[sz]ed/i;

/**
 * The one socket.io connection of the console: authenticates with the access token, reconnects with
 * exponential back-off, re-joins rooms after every reconnect, and runs seed-003 calls.
 */
@Injectable({ providedIn: 'root' })
export class Realtime {
  private readonly auth = inject(Auth);
  private socket: Socket | null = null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly rooms = new Map<string, number>();
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly calls = new Map<string, PendingCall>();

  private readonly stateSig = signal<ConnectionState>('offline');
  private readonly retryAtSig = signal<number | null>(null);
  readonly state = this.stateSig.asReadonly();
  /** Epoch ms of the next reconnect attempt while reconnecting. */
  readonly retryAt = this.retryAtSig.asReadonly();
  readonly connected = computed(() => this.stateSig() === 'connected');

  constructor() {
    effect(() => (this.auth.signedIn() ? this.open() : this.close()));
    window.addEventListener('online', () => this.retryNow());
    window.addEventListener('offline', () => this.stateSig.set('offline'));
  }

  /** Reconnects immediately instead of waiting for the back-off timer. */
  retryNow(): void {
    if (!this.socket || this.socket.connected) return;
    this.clearRetry();
    this.stateSig.set('reconnecting');
    this.socket.connect();
  }

  /**
   * Joins a room (`fleet`, `node:<id>`, `server:<id>`, `events`); returns the leave function. Rooms
   * are ref-counted. `replay`: subscribe again even when the room is already joined, so what the
   * gateway sends on joining (a server's console scrollback) reaches this new listener too; without
   * it a terminal opened after the server page had joined stayed blank (issue 14).
   */
  join(room: string, options: { replay?: boolean } = {}): () => void {
    const count = this.rooms.get(room) ?? 0;
    this.rooms.set(room, count + 1);
    if ((count === 0 || options.replay) && this.socket?.connected) this.subscribe(room);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const n = (this.rooms.get(room) ?? 1) - 1;
      if (n > 0) {
        this.rooms.set(room, n);
        return;
      }
      this.rooms.delete(room);
      if (this.socket?.connected) this.socket.emit('unsubscribe', { room });
    };
  }

  /** Listens to a server push (`node.usage`, `console.line`, …); returns the stop function. Survives reconnects. */
  on<T>(event: string, handler: (payload: T) => void): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler as Handler);
    return () => set.delete(handler as Handler);
  }

  /** Starts a seed-003 call (`jobs.run`, `servers.command`). Fails at once when offline. */
  call<T>(call: string, params: unknown, onLine?: (line: string, stream?: string) => void): RunningCall<T> {
    const id = crypto.randomUUID();
    const socket = this.socket;
    const result = new Promise<T>((resolve, reject) => {
      if (!socket?.connected) {
        reject(new ApiError('Not connected to the live channel', 'DISCONNECTED', 0));
        return;
      }
      this.calls.set(id, { onLine, resolve: resolve as (d: unknown) => void, reject });
      socket.emit('call', { id, call, params });
    });
    return { id, result, cancel: () => this.socket?.emit('cancel', { id }) };
  }

  private open(): void {
    if (this.socket) return;
    const socket = io({
      path: '/socket.io',
      autoConnect: false,
      // Reconnection is ours: the back-off is tested, and the token must be fresh on every attempt.
      reconnection: false,
      transports: ['websocket'],
      auth: (cb) => cb({ token: this.auth.accessToken() }),
    });
    socket.on('connect', () => {
      this.attempt = 0;
      this.clearRetry();
      this.stateSig.set('connected');
      for (const room of this.rooms.keys()) this.subscribe(room);
    });
    socket.on('disconnect', (reason) => {
      this.failCalls('The live channel disconnected');
      if (reason === 'io client disconnect') return;
      this.scheduleRetry();
    });
    socket.on('connect_error', (err) => void this.connectFailed(err));
    socket.on('token_expiring', () => void this.reauth());
    socket.on('line', (m: CallLine) => this.calls.get(m.id)?.onLine?.(m.line, m.stream));
    socket.on('result', (m: CallResult) => this.settle(m));
    socket.onAny((event: string, payload: unknown) => this.handlers.get(event)?.forEach((h) => h(payload)));
    this.socket = socket;
    this.stateSig.set('connecting');
    socket.connect();
  }

  private close(): void {
    this.clearRetry();
    this.failCalls('Signed out');
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = null;
    this.stateSig.set('offline');
  }

  private subscribe(room: string): void {
    this.socket?.timeout(10_000).emit('subscribe', { room }, (err: unknown, ack?: { ok?: boolean; error?: string; code?: string }) => {
      if (err || !ack?.ok) console.warn(`realtime: could not join ${room}`, err ?? ack);
    });
  }

  private async connectFailed(err: Error): Promise<void> {
    if (AUTH_FAILURE.test(err.message) && this.auth.signedIn()) {
      try {
        await this.auth.refresh();
      } catch {
        this.auth.endSession();
        return;
      }
    }
    this.scheduleRetry();
  }

  private async reauth(): Promise<void> {
    try {
      const token = await this.auth.refresh();
      this.socket?.timeout(10_000).emit('reauth', { token }, (err: unknown, ack?: { ok?: boolean }) => {
        if (err || !ack?.ok) this.socket?.disconnect().connect();
      });
    } catch {
      this.auth.endSession();
    }
  }

  private scheduleRetry(): void {
    if (!this.socket) return;
    this.clearRetry();
    const delay = backoffDelay(this.attempt++, { baseMs: 500, maxMs: 30_000 });
    this.stateSig.set(navigator.onLine === false ? 'offline' : 'reconnecting');
    this.retryAtSig.set(Date.now() + delay);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.retryAtSig.set(null);
      this.socket?.connect();
    }, delay);
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.retryAtSig.set(null);
  }

  private settle(m: CallResult): void {
    const pending = this.calls.get(m.id);
    if (!pending) return;
    this.calls.delete(m.id);
    if (m.success) {
      pending.resolve(m.data);
      return;
    }
    const data = (m.data ?? {}) as { code?: string };
    pending.reject(toApiError({ error: m.message ?? 'The call failed', code: m.code ?? data.code ?? 'CALL_FAILED', details: m.data }));
  }

  private failCalls(message: string): void {
    for (const [id, pending] of this.calls) {
      this.calls.delete(id);
      pending.reject(new ApiError(message, 'DISCONNECTED', 0));
    }
  }
}
