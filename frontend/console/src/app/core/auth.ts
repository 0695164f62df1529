import { HttpBackend, HttpClient, HttpHeaders } from '@angular/common/http';
import { Injectable, computed, inject, signal } from '@angular/core';
import { Router } from '@angular/router';
import { firstValueFrom } from 'rxjs';
import { toApiError } from './api-error';

/** The pair issued by login and rotated by every refresh. */
export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

/** `GET /auth/me`: who is signed in and what they may do. */
export interface Me {
  user: { id: string; name: string; email: string; [key: string]: unknown };
  roles: { id: string; name: string }[];
  permissions: string[];
}

/** What a login step led to: signed in, or a one-time code was sent by email. */
export type LoginOutcome = { kind: 'signed-in' } | { kind: 'otp'; message: string; email: string };

interface LoginReply extends Partial<Tokens> {
  otpRequired?: boolean;
  message?: string;
  email?: string;
}

const STORAGE_KEY = 'encedeus.tokens';
const EMAIL_IN_TEXT = /[^\s@]+@[^\s@]+\.[^\s@]+/;

function readTokens(): Tokens | null {
  try {
    const parsed = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null') as Tokens | null;
    return parsed?.accessToken && parsed.refreshToken ? parsed : null;
  } catch {
    return null;
  }
}

/** The signed-in session: tokens in localStorage, the current user and their permissions. */
@Injectable({ providedIn: 'root' })
export class Auth {
  private readonly http = inject(HttpClient);
  // Login and refresh bypass the interceptors: a 401 there means "wrong credentials", never "refresh and retry".
  private readonly bare = new HttpClient(inject(HttpBackend));
  private readonly router = inject(Router);

  private readonly tokens = signal<Tokens | null>(readTokens());
  private readonly meState = signal<Me | null>(null);
  private refreshing: Promise<string> | null = null;
  private loadingMe: Promise<Me> | null = null;

  readonly signedIn = computed(() => this.tokens() !== null);
  readonly me = this.meState.asReadonly();
  readonly permissions = computed(() => new Set(this.meState()?.permissions ?? []));

  constructor() {
    window.addEventListener('storage', (e) => {
      if (e.key === STORAGE_KEY) this.tokens.set(readTokens());
    });
  }

  accessToken(): string | null {
    return this.tokens()?.accessToken ?? null;
  }

  /** True when the user holds `permission` (a `*` or `<area>.*` grant also counts). */
  can(permission: string): boolean {
    const held = this.permissions();
    return held.has(permission) || held.has('*') || held.has(`${permission.split('.')[0]}.*`);
  }

  /** Step one: email or username + password. */
  async login(identifier: string, password: string): Promise<LoginOutcome> {
    const id = identifier.trim();
    const body = id.includes('@') ? { email: id, password } : { username: id, password };
    try {
      const reply = await firstValueFrom(this.bare.post<LoginReply>('/api/v1/auth/login', body));
      if (reply.otpRequired) {
        const message = reply.message ?? 'We sent a code to your email.';
        const email = reply.email ?? (id.includes('@') ? id : (EMAIL_IN_TEXT.exec(message)?.[0] ?? id));
        return { kind: 'otp', message, email };
      }
      await this.begin(reply);
      return { kind: 'signed-in' };
    } catch (e) {
      throw toApiError(e);
    }
  }

  /** Step two, when the server asked for a one-time code. */
  async verify(email: string, code: string): Promise<void> {
    try {
      const reply = await firstValueFrom(this.bare.post<LoginReply>('/api/v1/auth/login/verify', { email, code }));
      await this.begin(reply);
    } catch (e) {
      throw toApiError(e);
    }
  }

  /**
   * Trades the refresh token for a new pair (refresh tokens rotate, so the new one is stored).
   * Concurrent callers share one request: two refreshes with the same token would revoke the family.
   */
  refresh(): Promise<string> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** Loads `/auth/me` once per session; later callers get the same answer. */
  ensureMe(): Promise<Me> {
    const known = this.meState();
    if (known) return Promise.resolve(known);
    this.loadingMe ??= firstValueFrom(this.http.get<Me>('/api/v1/auth/me'))
      .then((me) => {
        this.meState.set({ ...me, permissions: me.permissions ?? [], roles: me.roles ?? [] });
        return me;
      })
      .finally(() => (this.loadingMe = null));
    return this.loadingMe;
  }

  /** Re-reads `/auth/me`, e.g. after an admin changed the current user's roles. */
  async reloadMe(): Promise<Me> {
    const me = await firstValueFrom(this.http.get<Me>('/api/v1/auth/me'));
    this.meState.set({ ...me, permissions: me.permissions ?? [], roles: me.roles ?? [] });
    return me;
  }

  async logout(): Promise<void> {
    const tokens = this.tokens();
    if (tokens) {
      // Best effort: a dead server must not keep the user signed in locally.
      await firstValueFrom(this.http.post('/api/v1/auth/logout', { refreshToken: tokens.refreshToken })).catch(() => undefined);
    }
    this.clear();
    await this.router.navigate(['/login']);
  }

  /** The session is over (refresh failed): forget it and go to the login page, remembering where we were. */
  endSession(): void {
    const returnUrl = this.router.url.startsWith('/login') ? undefined : this.router.url;
    this.clear();
    void this.router.navigate(['/login'], { queryParams: returnUrl ? { returnUrl } : {} });
  }

  private async begin(reply: LoginReply): Promise<void> {
    if (!reply.accessToken || !reply.refreshToken) throw toApiError({ error: 'The server sent no tokens', code: 'BAD_RESPONSE' });
    this.store({ accessToken: reply.accessToken, refreshToken: reply.refreshToken });
    this.meState.set(null);
    await this.ensureMe();
  }

  private async doRefresh(): Promise<string> {
    const refreshToken = this.tokens()?.refreshToken;
    if (!refreshToken) throw toApiError({ error: 'Not signed in', code: 'UNAUTHENTICATED' });
    try {
      const headers = new HttpHeaders({ Authorization: `Bearer ${refreshToken}` });
      const reply = await firstValueFrom(this.bare.post<Partial<Tokens>>('/api/v1/auth/refresh', null, { headers }));
      if (!reply.accessToken) throw toApiError({ error: 'The server sent no token', code: 'BAD_RESPONSE' });
      this.store({ accessToken: reply.accessToken, refreshToken: reply.refreshToken ?? refreshToken });
      return reply.accessToken;
    } catch (e) {
      throw toApiError(e);
    }
  }

  private store(tokens: Tokens): void {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(tokens));
    this.tokens.set(tokens);
  }

  private clear(): void {
    localStorage.removeItem(STORAGE_KEY);
    this.tokens.set(null);
    this.meState.set(null);
  }
}
