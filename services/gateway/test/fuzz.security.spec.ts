import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { startStack, type Stack } from './stack-harness';

/*
 * Issue 8, "no new 500s": generated bodies against every route of the OpenAPI document and every
 * socket.io event the gateway handles. Every answer must be 2xx/4xx in the `{ error, code }` format,
 * and /health must stay up. FUZZ_SEED=<n> replays a run; FUZZ_BODIES=<n> changes its size.
 */

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const BODIES = Number(process.env.FUZZ_BODIES ?? 2000);
const SOCKET_MESSAGES = Number(process.env.FUZZ_SOCKET_MESSAGES ?? 500);
const IN_FLIGHT = 8;
const ATTACH_CALLS = Number(process.env.FUZZ_ATTACH_CALLS ?? 120);
/** A well-formed id among the generated ones (random v4 UUIDs, the nil UUID): jobs.attach looks it up. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** mulberry32: small, seeded, good enough to pick inputs. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof prng>;

const STRINGS = [
  '', ' ', 'a', 'admin', 'poison\u0000srv', '\u0000', 'lone\ud800', '\udfff', '😀🚀', 'زمان', 'e\u0301', '\u202eevil', '\ufeff',
  '../../etc/passwd', "' or 1=1 --", '%00', '%', '{{GREETING}}', '$(id -u)', '`hostname`', '<script>', 'null', 'true', '-1', '0', 'NaN',
  '1e400', '99999999999999999999999999', '2026-11-30T00:00:00Z', 'not-a-uuid', '00000000-0000-0000-0000-000000000000',
  'x'.repeat(300), 'y'.repeat(70_000), 'a@b.c', 'evt.>', '*', '>', 'admin@stack.test',
];
const NUMBERS = [0, -0, 1, -1, 0.5, 1e308, -1e308, 2 ** 53 + 1, -(2 ** 63), 2 ** 31, 2 ** 32, 65536, 1e-300, 123456789];
/** Numbers JSON.stringify cannot write: spliced into the text afterwards. */
const RAW_NUMBERS = ['1e400', '-1e400', '123456789012345678901234567890', '1.0000000000000000000001', '-0.0'];

function value(rng: Rng, depth = 0): unknown {
  const kind = rng.int(depth > 3 ? 4 : 7);
  switch (kind) {
    case 0: return rng.pick([null, true, false]);
    case 1: return rng.pick(NUMBERS);
    case 2: return rng.pick(STRINGS);
    case 3: return `__RAW_${rng.int(RAW_NUMBERS.length)}__`;
    case 4: return Array.from({ length: rng.int(4) }, () => value(rng, depth + 1));
    case 5: return Object.fromEntries(Array.from({ length: rng.int(4) }, () => [rng.pick(STRINGS).slice(0, 40), value(rng, depth + 1)]));
    default: return uuidOrNot(rng);
  }
}

function uuidOrNot(rng: Rng): string {
  return rng.chance(0.6) ? randomUUID() : rng.pick(STRINGS);
}

/** Deeply nested arrays and objects (socket.io-client's own encoder recurses, so sockets get a shallower cap). */
function deep(rng: Rng, maxDepth = 3000): unknown {
  let v: unknown = rng.pick(STRINGS);
  for (let i = 0, n = 50 + rng.int(maxDepth); i < n; i++) v = rng.chance(0.5) ? [v] : { a: v };
  return v;
}

interface Schema { type?: string; properties?: Record<string, Schema>; items?: Schema; enum?: unknown[]; $ref?: string; allOf?: Schema[]; anyOf?: Schema[]; oneOf?: Schema[] }

/** A value shaped like the schema, with a fair chance of being wrong in every field. */
function shaped(rng: Rng, schema: Schema | undefined, resolve: (s: Schema) => Schema, depth = 0): unknown {
  const s = schema ? resolve(schema) : undefined;
  if (!s || depth > 6 || rng.chance(0.25)) return value(rng, depth);
  const variant = s.allOf?.[0] ?? s.anyOf?.[rng.int(s.anyOf.length)] ?? s.oneOf?.[rng.int(s.oneOf.length)];
  if (variant) return shaped(rng, variant, resolve, depth + 1);
  if (s.enum) return rng.chance(0.7) ? rng.pick(s.enum) : value(rng, depth);
  switch (s.type) {
    case 'object': return Object.fromEntries(Object.entries(s.properties ?? {}).filter(() => rng.chance(0.8)).map(([k, p]) => [k, shaped(rng, p, resolve, depth + 1)]));
    case 'array': return Array.from({ length: rng.int(4) }, () => shaped(rng, s.items, resolve, depth + 1));
    case 'string': return rng.chance(0.4) ? randomUUID() : rng.pick(STRINGS);
    case 'integer': case 'number': return rng.chance(0.2) ? `__RAW_${rng.int(RAW_NUMBERS.length)}__` : rng.pick(NUMBERS);
    case 'boolean': return rng.chance(0.8) ? rng.chance(0.5) : value(rng, depth);
    default: return value(rng, depth);
  }
}

const toJson = (v: unknown) => JSON.stringify(v).replace(/"__RAW_(\d)__"/g, (_m, i: string) => RAW_NUMBERS[Number(i)]);

interface Body { contentType?: string; payload?: string | Buffer }

function body(rng: Rng, schema: Schema | undefined, resolve: (s: Schema) => Schema): Body {
  const roll = rng.next();
  if (roll < 0.55) return { contentType: 'application/json', payload: toJson(shaped(rng, schema, resolve)) };
  if (roll < 0.65) return { contentType: 'application/json', payload: toJson(value(rng)) };
  if (roll < 0.7) return { contentType: 'application/json', payload: toJson(deep(rng)) };
  if (roll < 0.75) return { contentType: 'application/json', payload: rng.pick(['{', '{"a":', '[1,2', '\u0000', 'nul', '"\\ud800"', '{"a":1}garbage', '']) };
  if (roll < 0.8) return { contentType: 'application/msgpack', payload: Buffer.from(Array.from({ length: rng.int(64) }, () => rng.int(256))) };
  if (roll < 0.85) return { contentType: rng.pick(['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'image/png', 'application/json; charset=utf-16', 'multipart/form-data; boundary=x', 'garbage']), payload: toJson(shaped(rng, schema, resolve)) };
  if (roll < 0.9) return { contentType: 'multipart/form-data; boundary=fuzz', payload: `--fuzz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n${rng.pick(STRINGS)}\r\n--fuzz--\r\n` };
  return {};
}

interface Route { method: string; path: string; params: { name: string; in: string; schema?: Schema }[]; schema?: Schema }

function routesOf(doc: { paths: Record<string, Record<string, { parameters?: Route['params']; requestBody?: { content?: Record<string, { schema?: Schema }> } }>> }): Route[] {
  const routes: Route[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const content = op.requestBody?.content ?? {};
      routes.push({ method, path, params: op.parameters ?? [], schema: (content['application/json'] ?? Object.values(content)[0])?.schema });
    }
  }
  return routes;
}

/** Percent-encodes; a lone surrogate has no UTF-8, so it goes out as the bytes of one (invalid UTF-8 for the server). */
const enc = (s: string) => s.split(/([\ud800-\udfff])/).map((part) => (/^[\ud800-\udfff]$/.test(part) ? '%ED%A0%80' : encodeURIComponent(part))).join('');

function url(rng: Rng, route: Route): string {
  const path = route.path.replace(/\{([^}]+)\}/g, () => enc(uuidOrNot(rng)));
  const query = route.params
    .filter((p) => p.in === 'query' && rng.chance(0.6))
    .map((p) => `${enc(p.name)}=${enc(String(rng.chance(0.3) ? rng.pick(NUMBERS) : rng.chance(0.5) ? rng.pick(RAW_NUMBERS) : uuidOrNot(rng)))}`);
  return query.length ? `${path}?${query.join('&')}` : path;
}

/** Runs `jobs` with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await job(items[next++]);
  }));
}

const isErrorBody = (b: unknown) => typeof b === 'object' && b !== null && typeof (b as { error?: unknown }).error === 'string' && typeof (b as { code?: unknown }).code === 'string';

describe('fuzz: no 500 anywhere', () => {
  let stack: Stack;
  let token: string;
  /** A default user: its lists and reads take the owner-filtered paths. */
  let userToken: string;

  beforeAll(async () => {
    // Every service the gateway routes to runs, the plugins service too (its routes would answer 503 otherwise).
    stack = await startStack({ plugins: {} });
    token = await stack.adminToken();
    const user = { name: 'fuzzed', email: 'fuzzed@stack.test', password: 'a default user password' };
    await stack.http().post('/api/v1/users').set('Authorization', `Bearer ${token}`).send(user);
    userToken = (await stack.http().post('/api/v1/auth/login').send({ email: user.email, password: user.password })).body.accessToken;
    console.log(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  /** A fresh admin token: a fuzzed request may log the session out. */
  const relogin = async () => {
    const res = await stack.http().post('/api/v1/auth/login').send({ email: 'admin@stack.test', password: 'stack admin password' });
    if (res.status === 200) token = res.body.accessToken;
  };

  it(`answers ${BODIES} generated requests to every OpenAPI route with 2xx/4xx and { error, code }, and /health stays up`, async () => {
    const rng = prng(SEED);
    const doc = (await stack.http().get('/api/v1/openapi.json')).body;
    const resolve = (s: Schema): Schema => (s.$ref ? resolve(s.$ref.split('/').slice(1).reduce((o: any, k) => o?.[k], doc) ?? {}) : s);
    const routes = routesOf(doc);
    expect(routes.length).toBeGreaterThan(30);
    const failures: string[] = [];
    const plan = Array.from({ length: BODIES }, (_, i) => {
      const route = routes[i % routes.length];
      const auth = rng.next();
      return { route, url: url(rng, route), body: body(rng, route.schema, resolve), auth: auth < 0.7 ? 'admin' : auth < 0.85 ? 'user' : auth < 0.95 ? 'none' : 'garbage' };
    });

    let done = 0;
    await pool(plan, IN_FLIGHT, async ({ route, url: path, body: b, auth }) => {
      if (++done % 200 === 0) await relogin();
      let req = (request(stack.gateway.url) as any)[route.method](path).timeout(15_000);
      if (auth === 'admin') req = req.set('Authorization', `Bearer ${token}`);
      if (auth === 'user') req = req.set('Authorization', `Bearer ${userToken}`);
      if (auth === 'garbage') req = req.set('Authorization', 'Bearer \u00ff garbage');
      if (b.contentType) req = req.set('Content-Type', b.contentType);
      const what = `${route.method.toUpperCase()} ${path.slice(0, 200)} [${b.contentType ?? 'no body'}] ${String(b.payload ?? '').slice(0, 300)}`;
      try {
        const res = await (b.payload !== undefined ? req.send(b.payload) : req);
        // A job for a runtime no online node offers is a state of the fleet (this stack has no agent), not the input's fault.
        const noNode = res.status === 503 && res.body?.code === 'SERVICE_UNAVAILABLE' && route.path.endsWith('/jobs') && res.body?.details?.runtime !== undefined;
        if (res.status >= 500 && !noNode) failures.push(`${res.status} ${JSON.stringify(res.body).slice(0, 200)} ← ${what}`);
        else if (res.status >= 400 && !isErrorBody(res.body)) failures.push(`${res.status} without { error, code }: ${String(res.text).slice(0, 200)} ← ${what}`);
      } catch (error) {
        failures.push(`no answer (${(error as Error).message}) ← ${what}`);
      }
    });
    const health = await stack.http().get('/api/v1/health');

    expect(failures.slice(0, 25)).toEqual([]);
    expect(health.status).toBe(200);
  }, 240_000);

  it(`answers ${SOCKET_MESSAGES} generated socket.io messages with acks in the { ok } / { error, code } format, never INTERNAL`, async () => {
    const rng = prng(SEED + 1);
    await relogin();
    const socket: Socket = connectSocket(stack.gateway.url, { path: '/socket.io', transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('connect_error', reject); });
    const failures: string[] = [];
    const results: unknown[] = [];
    socket.on('result', (r: unknown) => results.push(r));
    const events = ['reauth', 'subscribe', 'unsubscribe', 'call', 'cancel'] as const;
    const shapedMessage = (event: (typeof events)[number]): unknown => {
      switch (event) {
        case 'reauth': return { token: rng.chance(0.3) ? token : rng.pick(STRINGS) };
        case 'subscribe': case 'unsubscribe': return { room: rng.pick(['fleet', 'events', `node:${uuidOrNot(rng)}`, `server:${uuidOrNot(rng)}`, rng.pick(STRINGS)]) };
        case 'call': return { id: rng.pick(STRINGS).slice(0, 100) || 'x', call: rng.pick(['servers.command', 'jobs.run', 'jobs.attach', rng.pick(STRINGS)]), params: rng.chance(0.7) ? { id: uuidOrNot(rng), server_id: uuidOrNot(rng), job_id: rng.chance(0.8) ? uuidOrNot(rng) : value(rng), command: rng.pick(STRINGS), runtime: rng.pick(['node', 'python3', 'x']), code: rng.pick(STRINGS), timeout_ms: rng.pick(NUMBERS) } : value(rng) };
        case 'cancel': return { id: rng.pick(STRINGS) };
      }
    };

    for (let i = 0; i < SOCKET_MESSAGES; i++) {
      const event = rng.pick(events);
      const message = rng.chance(0.6) ? shapedMessage(event) : rng.chance(0.1) ? deep(rng, 1000) : value(rng);
      const what = `${event} ${JSON.stringify(message)?.slice(0, 200)}`;
      if (event === 'call' || event === 'cancel') {
        socket.emit(event, message);
        continue;
      }
      const ack = await socket.timeout(5000).emitWithAck(event, message).catch((error: Error) => ({ timeout: error.message }));
      const ok = typeof ack === 'object' && ack !== null && ((ack as { ok?: unknown }).ok === true || (isErrorBody(ack) && (ack as { code: string }).code !== 'INTERNAL'));
      if (!ok) failures.push(`${JSON.stringify(ack).slice(0, 200)} ← ${what}`);
    }
    // A last subscribe proves the connection (and the server) still answer, and flushes the calls' results.
    const last = await socket.timeout(10_000).emitWithAck('subscribe', { room: 'fleet' });
    socket.close();
    for (const r of results) {
      if ((r as { code?: string }).code === 'INTERNAL') failures.push(`call result INTERNAL: ${JSON.stringify(r).slice(0, 300)}`);
    }
    const health = await stack.http().get('/api/v1/health');

    expect(failures.slice(0, 25)).toEqual([]);
    expect(last).toEqual({ ok: true });
    expect(health.status).toBe(200);
  }, 120_000);

  it(`answers ${ATTACH_CALLS} malformed jobs.attach calls each with one clear error (VALIDATION_FAILED, or NOT_FOUND for a well-formed unknown id), never INTERNAL`, async () => {
    const rng = prng(SEED + 2);
    await relogin();
    const socket: Socket = connectSocket(stack.gateway.url, { path: '/socket.io', transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('connect_error', reject); });
    type Result = { id: string; success?: unknown; code?: unknown; message?: unknown };
    const waiting = new Map<string, (r: Result) => void>();
    socket.on('result', (r: Result) => waiting.get(r.id)?.(r));
    const resultOf = (id: string) => new Promise<Result | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 10_000);
      waiting.set(id, (r) => { clearTimeout(timer); resolve(r); });
    });
    const params = (): unknown => {
      const roll = rng.next();
      if (roll < 0.5) return { job_id: rng.chance(0.4) ? uuidOrNot(rng) : value(rng), ...(rng.chance(0.3) ? { [rng.pick(STRINGS).slice(0, 40)]: value(rng) } : {}) };
      if (roll < 0.6) return deep(rng, 200);
      if (roll < 0.7) return { job_id: rng.pick(STRINGS).toUpperCase() + randomUUID() };
      return value(rng);
    };
    const failures: string[] = [];

    for (let i = 0; i < ATTACH_CALLS; i++) {
      const id = `attach-${i}`;
      const p = params();
      // One at a time: a well-formed id waits for the nodes service, and a socket runs at most 16 calls at once.
      const answered = resultOf(id);
      socket.emit('call', { id, call: 'jobs.attach', params: p });
      const r = await answered;
      const wellFormed = typeof p === 'object' && p !== null && !Array.isArray(p) && typeof (p as { job_id?: unknown }).job_id === 'string' && UUID.test((p as { job_id: string }).job_id);
      const expected = wellFormed ? 'NOT_FOUND' : 'VALIDATION_FAILED';
      const clear = r?.success === false && r.code === expected && typeof r.message === 'string' && (expected === 'NOT_FOUND' || r.message.includes('jobs.attach'));
      if (!clear) failures.push(`${JSON.stringify(r)?.slice(0, 300)} (expected ${expected}) ← ${JSON.stringify(p)?.slice(0, 200)}`);
    }
    const last = await socket.timeout(10_000).emitWithAck('subscribe', { room: 'fleet' });
    socket.close();
    const health = await stack.http().get('/api/v1/health');

    expect(failures.slice(0, 25)).toEqual([]);
    expect(last).toEqual({ ok: true });
    expect(health.status).toBe(200);
  }, 120_000);
});
