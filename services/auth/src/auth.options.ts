import type { PasswordHashOptions } from '@encedeus/security';

/** Options of the auth service (tests pass them explicitly; main.ts builds them from config). */
export interface AuthModuleOptions {
  nats: { servers: string | string[]; creds: string };
  databaseUrl: string;
  smtp: { host: string; port: number; from: string };
  /** Self-registration (seed 003: off until enabled). @default false */
  registrationEnabled?: boolean;
  /** Two-step login for everyone. @default false */
  otpRequired?: boolean;
  /** argon2id cost. @default passwordHashOptions() (env ARGON2_MEMORY_KIB / ARGON2_TIME_COST) */
  passwordHash?: PasswordHashOptions;
  /** Failed logins per minute per (account, client address) before 429. @default 5 */
  maxFailedLoginsPerMinute?: number;
  /** The queue of argon2 work (PasswordHasher). @default concurrency min(cores, 4), maxWaitMs 2000, maxQueued 16 × concurrency */
  passwordWork?: { concurrency?: number; maxWaitMs?: number; maxQueued?: number };
  /** Lifetime of a refresh token. @default 30 days */
  refreshTokenTtlSeconds?: number;
}

export const AUTH_OPTIONS = Symbol('AUTH_OPTIONS');
