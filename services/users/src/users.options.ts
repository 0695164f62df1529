/** Options of the users service (tests pass them explicitly; main.ts builds them from config). */
export interface UsersModuleOptions {
  nats: { servers: string | string[]; creds: string };
  databaseUrl: string;
  /** First admin's email. @default admin@encedeus.local */
  adminEmail?: string;
  /** First admin's password; generated and logged once when absent. */
  adminPassword?: string;
  /** Create built-in roles and the first admin on boot. @default true */
  bootstrap?: boolean;
}

export const USERS_OPTIONS = Symbol('USERS_OPTIONS');
