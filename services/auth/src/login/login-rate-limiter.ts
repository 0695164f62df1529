import { Inject, Injectable } from '@nestjs/common';
import { DomainError } from '@encedeus/contracts';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth.options';
import { AuthState } from '../state/auth-state';
import { ACCOUNT_FREE, ACCOUNT_MAX_DELAY_S, accountDelaySeconds, limitOf, windowOf, type LimitKind } from './login-limits';

/** An attempt admitted by `begin`; end it with `failed` or `succeeded`. */
export interface LoginAttempt {
  keys: string[];
  /** When it was admitted (the database's clock). */
  at: Date;
}

/** Account delays by attempt number (1-based), for the SQL below; later attempts wait the cap. */
const ACCOUNT_DELAYS = Array.from({ length: ACCOUNT_FREE + 10 }, (_, i) => accountDelaySeconds(i + 1));

/**
 * The login limiter (rules in login-limits.ts), shared by every auth instance through
 * auth.login_counters. Admission is ONE statement: it locks the attempt's counter rows (in key
 * order), decides, and counts the attempt only when every key admits it — so 40 parallel wrong
 * passwords get exactly the allowed number of checks (issue #8: a count-then-check raced, 33 of 40
 * were checked), and no lock is held across a round trip. Refused attempts answer 429 with
 * Retry-After before any password is checked, and do not count.
 */
@Injectable()
export class LoginRateLimiter {
  constructor(private readonly state: AuthState, @Inject(AUTH_OPTIONS) private readonly options: AuthModuleOptions) {}

  /** Keys of an attempt on `account` (a user id, or the login string when there is no such user) from `ip`. */
  static keys(account: string, ip?: string): { key: string; kind: LimitKind }[] {
    const id = account.toLowerCase();
    return [
      { key: `account:${id}`, kind: 'account' },
      { key: `pair:${id}|${ip ?? 'unknown'}`, kind: 'pair' },
      ...(ip ? [{ key: `ip:${ip}`, kind: 'ip' as const }] : []),
    ];
  }

  async begin(account: string, ip?: string): Promise<LoginAttempt> {
    const keys = LoginRateLimiter.keys(account, ip);
    const max = this.options.maxFailedLoginsPerMinute ?? 5;
    const names = keys.map((k) => k.key);
    await this.state.query(`insert into auth.login_counters (key, window_start, n) select unnest($1::text[]), now(), 0 on conflict do nothing`, [names]);
    const [row] = await this.state.query<{ wait: number; at: Date; admitted: string }>(
      `with params as (
         select * from unnest($1::text[], $2::int[], $3::int[]) as p(key, window_ms, max_n)
       ), cur as (
         select c.key, p.max_n, p.window_ms, c.gate_at,
                case when c.window_start < now() - p.window_ms * interval '1 millisecond' then 0 else c.n end as n,
                case when c.window_start < now() - p.window_ms * interval '1 millisecond' then now() else c.window_start end as window_start
           from auth.login_counters c join params p on p.key = c.key
          order by c.key
            for update of c
       ), rules as (
         select cur.*,
                case
                  when key like 'account:%' then
                    case when gate_at > now() then ceil(extract(epoch from gate_at - now()))::int else 0 end
                  when n >= max_n then greatest(1, ceil(extract(epoch from window_start + window_ms * interval '1 millisecond' - now()))::int)
                  else 0
                end as wait
           from cur
       ), verdict as (
         select coalesce(max(wait), 0) as wait from rules
       ), admitted as (
         update auth.login_counters c
            set n = r.n + 1,
                window_start = r.window_start,
                gate_at = case when c.key like 'account:%' then now() + coalesce(($4::int[])[r.n + 1], $5) * interval '1 second' else c.gate_at end
           from rules r, verdict v
          where c.key = r.key and v.wait = 0
         returning c.key
       )
       select v.wait, now() as at, (select count(*) from admitted) as admitted from verdict v`,
      [names, keys.map((k) => windowOf(k.kind)), keys.map((k) => limitOf(k.kind, max)), ACCOUNT_DELAYS, ACCOUNT_MAX_DELAY_S],
    );
    const wait = Number(row.wait);
    if (wait > 0) throw new DomainError('RATE_LIMITED', `Too many login attempts; try again in ${wait} s`, { retryAfterSeconds: wait });
    return { keys: names, at: row.at };
  }

  /** The password was wrong: the attempt stays counted. */
  async failed(_attempt: LoginAttempt): Promise<void> {
    if (Math.random() < 0.01) await this.state.query(`delete from auth.login_counters where window_start < now() - interval '1 hour'`);
  }

  /** The password was right, or was never checked: the attempt no longer counts. */
  async succeeded(attempt: LoginAttempt): Promise<void> {
    await this.state.query(`update auth.login_counters set n = greatest(n - 1, 0) where key = any($1::text[]) and window_start <= $2`, [attempt.keys, attempt.at]);
  }
}
