/**
 * Authenticated `GET /api/v1/auth/me` through the gateway at a fixed 500 req/s (target p99 ≤ 10 ms),
 * with the login rate beside it (argon2id cost stated). Real NATS, Postgres, auth and users
 * services in-process, gateway over loopback HTTP; the load comes from a child process at a
 * constant rate (open loop, latency from each request's due time, see lib/rate-child.js).
 * `npm run bench -- auth-me`, or alone: `npx ts-node -r tsconfig-paths/register --transpile-only bench/auth-me.bench.ts`.
 */
import { passwordHashOptions } from '@encedeus/security';
import { ADMIN, startIdentity, type ExternalEnv } from '../services/users/test/identity-harness';
import { benchEnv, conditions, record } from './lib/harness';
import { closedLoop, constantRate, loadLine } from './lib/load';

const BENCH = 'auth-me';
const RATE = Number(process.env.BENCH_RATE ?? 500);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const LOGIN_SECONDS = 5;
const LOGIN_CONNECTIONS = 4;

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
    const meUrl = `${h.gateway.url}/api/v1/auth/me`;
    await closedLoop({ url: meUrl, headers: auth, connections: 10, duration: 2 }); // warm-up
    const me = await constantRate({ url: meUrl, headers: auth, rate: RATE, duration: SECONDS });
    const nope = await constantRate({ url: `${h.gateway.url}/api/v1/no-such-route`, rate: RATE, duration: 3 });
    const login = await closedLoop({
      url: `${h.gateway.url}/api/v1/auth/login`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: ADMIN.email, password: ADMIN.password }),
      connections: LOGIN_CONNECTIONS,
      duration: LOGIN_SECONDS,
    });
    if (me.non2xx + me.errors > 0) throw new Error(`bench: GET /auth/me: ${me.non2xx} non-2xx, ${me.errors} errors (${JSON.stringify(me.statuses)})`);

    conditions(BENCH, {
      'me workload': `${RATE} req/s, open loop, for ${SECONDS} s after a 2 s closed-loop warm-up`,
      me: loadLine(me),
      'raw: unknown route (404, no auth)': `${loadLine(nope)} at ${RATE} req/s for 3 s`,
      'login workload': `${LOGIN_CONNECTIONS} connections for ${LOGIN_SECONDS} s, argon2id m=${cost.memoryCost} KiB t=${cost.timeCost} p=${cost.parallelism}`,
      login: loadLine(login),
    });
    record({
      bench: BENCH,
      name: `GET /auth/me p99 at ${RATE} req/s`,
      value: me.p99,
      unit: 'ms',
      target: { op: '<=', value: 10 },
      raw: { name: 'unknown route through the same gateway, p99', value: nope.p99, unit: 'ms' },
    });
    record({ bench: BENCH, name: 'GET /auth/me throughput', value: me.rps, unit: 'req/s', target: { op: '>=', value: RATE * 0.99 } });
    // load-child.js counts only 2xx responses in `requests`.
    record({ bench: BENCH, name: `logins (argon2id ${cost.memoryCost} KiB, t=${cost.timeCost})`, value: login.requests / login.durationS, unit: 'logins/s' });
  } finally {
    await h.stop();
  }
}

if (require.main === module) void run();
