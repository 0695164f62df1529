import type { INestMicroservice } from '@nestjs/common';
import { pack, unpack } from 'msgpackr';
import { JSONCodec, type NatsConnection, type Subscription } from 'nats';
import type { Response } from 'supertest';
import { startServiceApp } from '@encedeus/messaging';
import { startStack, type Stack } from '../../gateway/test/stack-harness';
import { MAX_AGENT_TYPES } from '../src/agents/activity-monitor';
import { MetricsModule } from '../src/metrics.module';
import { MetricsStore, SCHEMA } from '../src/storage/metrics-store';

const as = (token: string) => `Bearer ${token}`;
const json = JSONCodec<{ type: string; data: { agent_id: string } }>();
/** Collects a binary body (supertest parses only JSON and text by itself). */
const binary = (res: NodeJS.ReadableStream & { setEncoding(e: string): void }, done: (e: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => done(null, Buffer.concat(chunks)));
};

/** Seed 002's external agents on the real stack: REST in JSON and MessagePack, the activity monitor in KV, events in EVENTS. */
describe('external agents (seed 002, real stack)', () => {
  let stack: Stack;
  let ingestKey: string;
  let readKey: string;
  let nc: NatsConnection;
  let sub: Subscription;
  const events: { type: string; agent: string }[] = [];
  const extra: INestMicroservice[] = [];

  beforeAll(async () => {
    stack = await startStack({ files: false });
    const admin = await stack.adminToken();
    const key = (name: string, permissions: string[]) => stack.http().post('/api/v1/api-keys').set('Authorization', as(admin)).send({ name, permissions });
    ingestKey = (await key('poa-agents', ['metrics.ingest'])).body.key;
    readKey = (await key('poa-reader', ['metrics.read'])).body.key;
    nc = await stack.env.connect('admin');
    sub = nc.subscribe('evt.external_agent.>', { callback: (_e, m) => { const e = json.decode(m.data); events.push({ type: e.type, agent: e.data.agent_id }); } });
  }, 120_000);
  afterAll(async () => {
    sub?.unsubscribe();
    for (const app of extra) await app.close().catch(() => undefined);
    await stack?.stop();
  });

  const post = (path: string, body: unknown, token = ingestKey) => stack.http().post(`/api/v1/agents/${path}`).set('Authorization', as(token)).send(body as object);
  const postMsgpack = (path: string, body: unknown) =>
    stack.http().post(`/api/v1/agents/${path}`).set('Authorization', as(ingestKey)).set('Content-Type', 'application/msgpack').set('Accept', 'application/msgpack').buffer(true).parse(binary as never).send(pack(body));
  const agents = async () => (await stack.http().get('/api/v1/agents').set('Authorization', as(readKey))).body.items as { id: string; state: string; types: string[]; timeout_s: number | null }[];
  const agent = async (id: string) => (await agents()).find((a) => a.id === id);
  const typesOf = (id: string) => events.filter((e) => e.agent === id).map((e) => e.type);

  it('takes ping, data and bye in JSON and MessagePack and answers {"result":"success"} in the same type', async () => {
    const ping = await post('ping', { id: 'poa-1' });
    const packed: Response = await postMsgpack('ping', { id: 'poa-2' });
    const data = await post('data', { id: 'poa-1', type: 'ethereum_metrics', data: { block: 101, peers: 7 } });
    const packedData: Response = await postMsgpack('data', { id: 'poa-2', type: 'ethereum_metrics', data: { block: 102 } });
    const bye = await postMsgpack('bye', { id: 'poa-2' });

    expect([ping.status, ping.body]).toEqual([200, { result: 'success' }]);
    expect(packed.status).toBe(200);
    expect(packed.headers['content-type']).toContain('application/msgpack');
    expect(unpack(packed.body as Buffer)).toEqual({ result: 'success' });
    expect([data.status, packedData.status, bye.status]).toEqual([200, 200, 200]);
    const stored = await stack.http().get('/api/v1/agents/poa-1/data?type=ethereum_metrics').set('Authorization', as(readKey));
    expect(stored.body.items).toEqual([{ t: expect.any(String), type: 'ethereum_metrics', data: { block: 101, peers: 7 } }]);
    await post('data', { id: 'poa-1', type: 'ethereum_metrics', data: { block: 103, peers: 9, name: 'not a number' } });
    const series = await stack.http().get('/api/v1/agents/poa-1/series?type=ethereum_metrics&field=peers&step=1h').set('Authorization', as(readKey));
    const tooMany = await stack.http().get('/api/v1/agents/poa-1/series?type=ethereum_metrics&field=peers&from=0&step=1').set('Authorization', as(readKey));
    expect(series.status).toBe(200);
    expect(series.body).toMatchObject({ series: 'ethereum_metrics.peers', step: 3600, resolution: '1h' });
    expect(series.body.points).toEqual([{ t: expect.any(String), avg: 8, min: 7, max: 9 }]);
    expect(tooMany.status).toBe(422);
    expect(await agent('poa-1')).toMatchObject({ state: 'active', types: ['ethereum_metrics'] });
    expect(await agent('poa-2')).toMatchObject({ state: 'inactive', types: ['ethereum_metrics'] });
  });

  it('GET /agents/:id/data narrows the documents to from/to (epoch ms or ISO), and a bad range is 422 naming the field', async () => {
    const data = (query: Record<string, string | number>) => stack.http().get('/api/v1/agents/poa-range/data').query({ type: 'load', ...query }).set('Authorization', as(readKey));
    expect((await post('data', { id: 'poa-range', type: 'load', data: { n: 1 } })).status).toBe(200);
    const first = await stack.waitFor('the first document stored', async () => (await data({})).body.items?.[0]);
    // The second document is stored at least 50 ms later, so a bound 10 ms after the first splits them.
    await new Promise((r) => setTimeout(r, 50));
    expect((await post('data', { id: 'poa-range', type: 'load', data: { n: 2 } })).status).toBe(200);
    await stack.waitFor('the second document stored', async () => (await data({})).body.items?.length === 2);
    const split = Date.parse(first.t) + 10;

    const all = await data({});
    const fromSplit = await data({ from: split });
    const toSplit = await data({ from: new Date(split - 60_000).toISOString(), to: new Date(split).toISOString() });
    const bad = await Promise.all([data({ from: split, to: split - 1000 }), data({ from: split, to: split }), data({ from: 'yesterday' }), data({ to: 'soon' })]);

    expect(all.body.items.map((d: { data: { n: number } }) => d.data.n)).toEqual([1, 2]);
    expect(fromSplit.body).toEqual({ agent_id: 'poa-range', items: [expect.objectContaining({ data: { n: 2 } })] });
    expect(toSplit.body).toEqual({ agent_id: 'poa-range', items: [expect.objectContaining({ data: { n: 1 } })] });
    expect(bad.map((r) => [r.status, r.body.code, r.body.details?.fields?.[0]?.path])).toEqual([
      [422, 'VALIDATION_FAILED', 'to'],
      [422, 'VALIDATION_FAILED', 'to'],
      [422, 'VALIDATION_FAILED', 'from'],
      [422, 'VALIDATION_FAILED', 'to'],
    ]);
  });

  it('answers 415 for any other body type, 422 naming missing fields, 401 without a token, 403 without metrics.ingest', async () => {
    const text = await stack.http().post('/api/v1/agents/ping').set('Authorization', as(ingestKey)).set('Content-Type', 'text/plain').send('id=x');
    const form = await stack.http().post('/api/v1/agents/data').set('Authorization', as(ingestKey)).type('form').send({ id: 'x' });
    const noId = await post('ping', {});
    const noTypeNoData = await post('data', { id: 'poa-1' });
    const badId = await post('ping', { id: 'a.b' });
    const anonymous = await stack.http().post('/api/v1/agents/ping').send({ id: 'poa-1' });
    const reader = await post('ping', { id: 'poa-1' }, readKey);

    expect([text.status, text.body.code, form.status]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE', 415]);
    expect([noId.status, noId.body.details.fields.map((f: { path: string }) => f.path)]).toEqual([422, ['id']]);
    expect(noTypeNoData.status).toBe(422);
    expect(noTypeNoData.body.details.fields.map((f: { path: string }) => f.path).sort()).toEqual(['data', 'type']);
    expect(badId.status).toBe(422);
    expect([anonymous.status, anonymous.body.code]).toEqual([401, 'UNAUTHENTICATED']);
    expect(reader.status).toBe(403);
  });

  it('records agent.became_active on the first ping, agent.said_bye and inactive at once on bye', async () => {
    await post('ping', { id: 'poa-bye' });
    await post('ping', { id: 'poa-bye' });
    const bye = await post('bye', { id: 'poa-bye' });
    const right = await agent('poa-bye');

    expect(bye.status).toBe(200);
    expect(right?.state).toBe('inactive');
    await stack.waitFor('the bye event', async () => typesOf('poa-bye').length >= 2, 5000);
    expect(typesOf('poa-bye')).toEqual(['agent.became_active', 'agent.said_bye']);
  });

  it('makes an agent inactive after its own timeout (agent.went_inactive), and active again on the next ping', async () => {
    await post('ping', { id: 'poa-quiet', timeout_s: 2 });
    expect((await agent('poa-quiet'))?.state).toBe('active');

    await stack.waitFor('inactive after 2 s', async () => (await agent('poa-quiet'))?.state === 'inactive', 10_000);
    await stack.waitFor('the timeout event', async () => typesOf('poa-quiet').includes('agent.went_inactive'), 5000);
    await post('ping', { id: 'poa-quiet' });

    expect((await agent('poa-quiet'))?.state).toBe('active');
    await stack.waitFor('active again', async () => typesOf('poa-quiet').length >= 3, 5000);
    expect(typesOf('poa-quiet')).toEqual(['agent.became_active', 'agent.went_inactive', 'agent.became_active']);
  });

  it('stores every document of a burst of concurrent reports, sent to the metrics service in batches', async () => {
    const batches: number[] = [];
    const spy = nc.subscribe('cmd.metrics.agent_data_batch', { callback: (_e, m) => batches.push((JSON.parse(Buffer.from(m.data).toString()) as { data: { items: unknown[] } }).data.items.length) });
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, n) => (n % 2 ? post('data', { id: 'poa-burst', type: 'load', data: { n } }) : postMsgpack('data', { id: 'poa-burst', type: 'load', data: { n } }))),
    );
    spy.unsubscribe();

    expect(answers.map((a) => a.status)).toEqual(Array(200).fill(200));
    const stored = await stack.http().get('/api/v1/agents/poa-burst/data?type=load&limit=1000').set('Authorization', as(readKey));
    expect((stored.body.items as { data: { n: number } }[]).map((i) => i.data.n).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, n) => n));
    expect(batches.reduce((a, b) => a + b, 0)).toBe(200);
    expect(batches.length).toBeLessThan(200);
    expect((await agent('poa-burst'))?.types).toEqual(['load']);
  });

  it('answers the cases the fast path hands on exactly as the full pipeline does', async () => {
    const raw = (type: string, body: Buffer | string, headers: Record<string, string> = {}) => {
      const req = stack.http().post('/api/v1/agents/data').set('Authorization', as(ingestKey)).set('Content-Type', type);
      for (const [k, v] of Object.entries(headers)) req.set(k, v);
      return req.send(body);
    };
    const badMsgpack = await raw('application/msgpack', Buffer.from([0x82, 0xa2, 0x69])); // a map cut short
    const badJson = await raw('application/json', '{"id":');
    const invalid = await raw('application/msgpack', pack({ id: 'poa-x' }));
    const tooLarge = await raw('application/json', JSON.stringify({ id: 'poa-x', type: 'big', data: { s: 'x'.repeat(1024 * 1024) } }));
    const key = { 'Idempotency-Key': 'poa-idem-1' };
    const once = await raw('application/json', JSON.stringify({ id: 'poa-idem', type: 'load', data: { n: 1 } }), key);
    const again = await raw('application/json', JSON.stringify({ id: 'poa-idem', type: 'load', data: { n: 1 } }), key);
    const named = await raw('application/json', JSON.stringify({ id: 'poa-idem', type: 'load', data: { n: 2 } }), { 'X-Request-Id': 'agent-report-42' });

    expect([badMsgpack.status, badMsgpack.body.code, badJson.status, badJson.body.code]).toEqual([400, 'MALFORMED_BODY', 400, 'MALFORMED_BODY']);
    expect([invalid.status, (invalid.body.details.fields as { path: string }[]).map((f) => f.path).sort()]).toEqual([422, ['data', 'type']]);
    expect([tooLarge.status, tooLarge.body.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    expect([once.status, again.status, named.status, named.headers['x-request-id']]).toEqual([200, 200, 200, 'agent-report-42']);
    const stored = await stack.http().get('/api/v1/agents/poa-idem/data?type=load').set('Authorization', as(readKey));
    expect((stored.body.items as { data: { n: number } }[]).map((i) => i.data.n)).toEqual([1, 2]);
    const scrape = await stack.http().get('/metrics').set('Authorization', as(readKey));
    expect(scrape.text).toMatch(/encedeus_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/agents\/data",status="200"\} \d+/);
  });

  it('stores the other agents\' reports when one sends a number too large to sum, twice in the same minute, and keeps taking its reports', async () => {
    const first = await post('data', { id: 'poa-huge', type: 'big', data: { x: 1.7e308, n: 0 } });
    const together = await Promise.all([
      ...Array.from({ length: 30 }, (_, k) => post('data', { id: `poa-calm-${k}`, type: 'load', data: { n: k } })),
      post('data', { id: 'poa-huge', type: 'big', data: { x: 1.7e308, n: 1 } }),
    ]);
    const later = await post('data', { id: 'poa-huge', type: 'big', data: { x: 1.7e308, n: 2 } });
    const small = await post('data', { id: 'poa-huge', type: 'big', data: { x: 5, n: 3 } });

    expect([first.status, ...together.map((a) => a.status), later.status, small.status]).toEqual(Array(34).fill(200));
    for (let k = 0; k < 30; k++) {
      const stored = await stack.http().get(`/api/v1/agents/poa-calm-${k}/data?type=load`).set('Authorization', as(readKey));
      expect(stored.body.items.map((i: { data: unknown }) => i.data)).toEqual([{ n: k }]);
    }
    const huge = await stack.http().get('/api/v1/agents/poa-huge/data?type=big').set('Authorization', as(readKey));
    expect(huge.body.items.map((i: { data: unknown }) => i.data)).toEqual([0, 1, 2].map((n) => ({ x: 1.7e308, n })).concat({ x: 5, n: 3 }));
    // Only the value within the bound is a series value.
    const series = await stack.http().get('/api/v1/agents/poa-huge/series?type=big&field=x&step=1h').set('Authorization', as(readKey));
    expect([series.status, series.body.points]).toEqual([200, [{ t: expect.any(String), avg: 5, min: 5, max: 5 }]]);
  });

  it('refuses only the document the store refuses (422), and stores the others of its batch', async () => {
    // A stand-in for any document Postgres refuses that validation lets through: a check only this test adds.
    const db = stack.metrics!.get(MetricsStore).db;
    await db.query(`alter table ${SCHEMA}.agent_data add constraint poa_test_refuse check (not (data ? 'poa_refuse'))`);
    try {
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, k) => post('data', { id: `poa-mixed-${k}`, type: 'load', data: k === 17 ? { poa_refuse: true, n: k } : { n: k } })),
      );

      expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 40 }, (_, k) => (k === 17 ? 422 : 200)));
      expect(answers[17].body.code).toBe('VALIDATION_FAILED');
      for (let k = 0; k < 40; k++) {
        const stored = await stack.http().get(`/api/v1/agents/poa-mixed-${k}/data?type=load`).set('Authorization', as(readKey));
        expect([k, stored.body.items.length]).toEqual([k, k === 17 ? 0 : 1]);
      }
    } finally {
      await db.query(`alter table ${SCHEMA}.agent_data drop constraint poa_test_refuse`);
    }
  });

  it('answers 200 to 70 concurrent documents of 70 types from one agent and lists at most 64 of its types', async () => {
    const sent = Array.from({ length: 70 }, (_, k) => `kind-${String(k).padStart(2, '0')}`);

    const answers = await Promise.all(sent.map((type, n) => post('data', { id: 'poa-types', type, data: { n } })));

    expect(answers.map((a) => a.status)).toEqual(Array(70).fill(200));
    const stored = await stack.http().get('/api/v1/agents/poa-types/data?limit=1000').set('Authorization', as(readKey));
    expect(stored.body.items.length).toBe(70);
    const types = (await agent('poa-types'))?.types ?? [];
    expect(types.length).toBe(MAX_AGENT_TYPES);
    expect(types).toEqual([...types].sort());
    expect(types.every((t) => sent.includes(t))).toBe(true);
  });

  it('keeps the states across a restart of the metrics service, and the new instance times agents out', async () => {
    await post('ping', { id: 'poa-restart', timeout_s: 4 });
    await stack.metrics!.close();
    const servers = stack.env.nats.url;
    const creds = await stack.env.nats.creds('metrics');
    extra.push(await startServiceApp('metrics', MetricsModule.forRoot({ nats: { servers, creds }, databaseUrl: stack.env.db.url }), { servers, creds, logger: ['error'] }));

    const after = await stack.waitFor('the new instance answers', async () => (await agent('poa-restart')) ?? undefined, 10_000);

    expect(after.state).toBe('active');
    expect((await agent('poa-bye'))?.state).toBe('inactive');
    expect((await agent('poa-1'))?.types).toEqual(['ethereum_metrics']);
    await stack.waitFor('timed out by the new instance', async () => (await agent('poa-restart'))?.state === 'inactive', 15_000);
    expect(typesOf('poa-restart')).toContain('agent.became_active');
  }, 60_000);

  it('answers 503 in the {error, code} shape while no metrics service runs, and stores nothing', async () => {
    for (const app of extra.splice(0)) await app.close();
    const report = await post('data', { id: 'poa-away', type: 'load', data: { n: 1 } });

    expect([report.status, report.body.code, typeof report.body.error]).toEqual([503, 'SERVICE_UNAVAILABLE', 'string']);
  });
});
