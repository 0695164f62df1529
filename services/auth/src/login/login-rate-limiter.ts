import { Inject, Injectable } from '@nestjs/common';
import { DomainError } from '@encedeus/contracts';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth.options';
import { AuthState } from '../state/auth-state';

const WINDOW_SECONDS = 60;

/**
 * Failed logins per account and per client IP in a sliding minute (auth.login_failures, shared by
 * every auth instance). At the limit further attempts get 429 with Retry-After, before any
 * password is checked.
 */
@Injectable()
export class LoginRateLimiter {
  constructor(private readonly state: AuthState, @Inject(AUTH_OPTIONS) private readonly options: AuthModuleOptions) {}

  static keys(login: string, ip?: string): string[] {
    return [`account:${login.toLowerCase()}`, ...(ip ? [`ip:${ip}`] : [])];
  }

  async check(keys: string[]): Promise<void> {
    const max = this.options.maxFailedLoginsPerMinute ?? 5;
    const rows = await this.state.query<{ key: string; n: string; oldest: Date }>(
      `select key, count(*) as n, min(at) as oldest from (
         select key, at, row_number() over (partition by key order by at desc) as rn
           from auth.login_failures where key = any($1) and at > now() - interval '${WINDOW_SECONDS} seconds') recent
       where rn <= $2 group by key`,
      [keys, max],
    );
    const blocked = rows.filter((r) => Number(r.n) >= max);
    if (blocked.length === 0) return;
    const now = Date.now();
    const retryAfterSeconds = Math.max(1, ...blocked.map((r) => Math.ceil((new Date(r.oldest).getTime() + WINDOW_SECONDS * 1000 - now) / 1000)));
    throw new DomainError('RATE_LIMITED', `Too many failed logins; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }

  async fail(keys: string[]): Promise<void> {
    await this.state.query(`insert into auth.login_failures (key) select unnest($1::text[])`, [keys]);
    if (Math.random() < 0.05) await this.state.query(`delete from auth.login_failures where at < now() - interval '10 minutes'`);
  }
}
