/**
 * Authenticated `GET /api/v1/auth/me` through the gateway at a fixed 500 req/s (target p99 ≤ 10 ms),
 * with the login rate beside it (argon2id cost stated). Real NATS, Postgres, auth and users
 * services in-process, gateway over loopback HTTP, load from autocannon in the same process.
 * `npm run bench -- auth-me`, or alone: `npx ts-node -r tsconfig-paths/register --transpile-only bench/auth-me.bench.ts`.
 */
import { passwordHashOptions } from '@encedeus/security';
import { ADMIN, startIdentity, type ExternalEnv } from '../services/users/test/identity-harness';
import { benchEnv, conditions, record } from './lib/harness';

const BENCH = 'auth-me';
const RATE = Number(process.env.BENCH_RATE ?? 500);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const LOGIN_SECONDS = 5;
const LOGIN_CONNECTIONS = 4;

/** The part of autocannon's API used here (the package ships no types and @types/autocannon is not installed). */
interface Options { url: string; method?: string; headers?: Record<string, string>; body?: string; connections: number; duration: number; overallRate?: number }
interface Result {
  '2xx': number;
  non2xx: number;
  errors: number;
  latency: { p50: number; p90: number; p99: number; max: number };
}
const autocannon = require('autocannon') as (options: Options, done: (error: Error | null, result: Result) => void) => void;

function fire(options: Options): Promise<Result> {
  return new Promise((resolve, reject) => autocannon(options, (error, result) => (error ? reject(error) : resolve(result))));
}

function externalEnv(): ExternalEnv | undefined {
  try {
    const env = benchEnv();
    return { nats: env.nats, db: env.db };
  } catch {
    return undefined; // run alone: the harness starts its own NATS and database
  }
}

export async function run(): Promise<void> {
  // The production default cost unless ARGON2_MEMORY_KIB / ARGON2_TIME_COST say otherwise.
  const cost = passwordHashOptions();
  const h = await startIdentity({ passwordHash: cost }, externalEnv());
  try {
    const token = await h.adminToken();
    const auth = { authorization: `Bearer ${token}` };
    await fire({ url: `${h.gateway.url}/api/v1/auth/me`, headers: auth, connections: 10, duration: 2 }); // warm-up

    const me = await fire({ url: `${h.gateway.url}/api/v1/auth/me`, headers: auth, connections: 20, overallRate: RATE, duration: SECONDS });
    const nope = await fire({ url: `${h.gateway.url}/api/v1/no-such-route`, connections: 20, overallRate: RATE, duration: 3 });
    const login = await fire({
      url: `${h.gateway.url}/api/v1/auth/login`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: ADMIN.email, password: ADMIN.password }),
      connections: LOGIN_CONNECTIONS,
      duration: LOGIN_SECONDS,
    });

    conditions(BENCH, {
      'me workload': `${RATE} req/s offered for ${SECONDS} s over 20 connections (autocannon overallRate), after a 2 s warm-up`,
      'me answered 2xx': me['2xx'],
      'me non-2xx / errors': `${me.non2xx} / ${me.errors}`,
      'me latency ms p50 / p90 / p99 / max': `${me.latency.p50} / ${me.latency.p90} / ${me.latency.p99} / ${me.latency.max}`,
      'raw: unknown route (404, no auth) latency ms p50 / p99': `${nope.latency.p50} / ${nope.latency.p99} at ${RATE} req/s for 3 s`,
      'login workload': `${LOGIN_CONNECTIONS} connections for ${LOGIN_SECONDS} s, argon2id m=${cost.memoryCost} KiB t=${cost.timeCost} p=${cost.parallelism}`,
      'login latency ms p50 / p99': `${login.latency.p50} / ${login.latency.p99}`,
    });
    record({
      bench: BENCH,
      name: `GET /auth/me p99 at ${RATE} req/s`,
      value: me.latency.p99,
      unit: 'ms',
      target: { op: '<=', value: 10 },
      raw: { name: 'unknown route through the same gateway, p99', value: nope.latency.p99, unit: 'ms' },
    });
    record({ bench: BENCH, name: 'GET /auth/me throughput', value: me['2xx'] / SECONDS, unit: 'req/s', target: { op: '>=', value: RATE * 0.99 } });
    record({ bench: BENCH, name: `logins (argon2id ${cost.memoryCost} KiB, t=${cost.timeCost})`, value: login['2xx'] / LOGIN_SECONDS, unit: 'logins/s' });
  } finally {
    await h.stop();
  }
}

if (require.main === module) void run();
