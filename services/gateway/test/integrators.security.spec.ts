import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, connect, credsAuthenticator, JSONCodec, type NatsConnection } from 'nats';
import { STREAMS } from '@encedeus/contracts';
import { startStack, type Stack } from './stack-harness';

const json = JSONCodec();

interface Issued {
  id: string;
  name: string;
  filter: string;
  servers: string;
  inboxPrefix: string;
  consumerNames: string[];
  creds: string;
}

/** Compiles the C integrator once; undefined (with the reason printed) when libnats is missing. */
function compileCIntegrator(dir: string): string | undefined {
  const binary = join(dir, 'integrator');
  const built = spawnSync('gcc', ['-Wall', '-o', binary, join(__dirname, 'fixtures', 'integrator.c'), '-lnats'], { encoding: 'utf8' });
  if (built.status === 0) return binary;
  console.warn(`skipping the nats.c integrator: libnats-dev is not installed (apt-get install -y libnats-dev): ${built.stderr}`);
  return undefined;
}

/**
 * Issue 8, Critical 1: integrator credentials could create a push consumer delivering user events
 * into `cmd.auth.delete_credentials`, and rewrite the users read model's durable.
 */
const workDir = mkdtempSync(join(tmpdir(), 'encedeus-integrators-'));
const cIntegrator = compileCIntegrator(workDir);

describe('integrator NATS credentials', () => {
  let stack: Stack;
  const open: NatsConnection[] = [];

  async function issue(body: Record<string, unknown>): Promise<Issued> {
    const res = await stack.http().post('/api/v1/integrations/nats-credentials').set('Authorization', `Bearer ${await stack.adminToken()}`).send(body);
    if (res.status !== 201) throw new Error(`issue failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as Issued;
  }

  async function connectAs(issued: Issued, options: { reconnect?: boolean } = {}): Promise<{ nc: NatsConnection; errors: string[] }> {
    const nc = await connect({
      servers: issued.servers,
      inboxPrefix: issued.inboxPrefix,
      authenticator: credsAuthenticator(new TextEncoder().encode(issued.creds)),
      reconnect: options.reconnect ?? false,
    });
    open.push(nc);
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.data));
    })();
    return { nc, errors };
  }

  async function publishUserEvents(n: number): Promise<void> {
    const admin = await stack.env.connect('admin');
    for (let i = 0; i < n; i++) await admin.jetstream().publish(`evt.user.integ-test-${i}`, json.encode({ type: 'test.pinged', data: { i } }));
  }

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await Promise.all(open.map((nc) => nc.close().catch(() => undefined)));
    await stack?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('refuses the attack of the issue: a push consumer into cmd.auth and a rewrite of users_read_model', async () => {
    const issued = await issue({ name: 'attacker', filter: 'evt.user.>' });
    const { nc } = await connectAs(issued);
    const before = await (await (await stack.env.connect('admin')).jetstreamManager()).consumers.info(STREAMS.events, 'users_read_model');

    const push = await nc
      .request(
        `$JS.API.CONSUMER.CREATE.${STREAMS.events}.x1.evt.user.>`,
        json.encode({ stream_name: STREAMS.events, config: { name: 'x1', filter_subject: 'evt.user.>', deliver_subject: 'cmd.auth.delete_credentials', deliver_group: 'auth', ack_policy: AckPolicy.None } }),
        { timeout: 2000 },
      )
      .catch((e: Error) => e);
    const rewrite = await nc
      .request(
        `$JS.API.CONSUMER.CREATE.${STREAMS.events}.users_read_model.evt.user.>`,
        json.encode({ stream_name: STREAMS.events, config: { ...before.config, filter_subject: 'evt.user.>', max_ack_pending: 1 } }),
        { timeout: 2000 },
      )
      .catch((e: Error) => e);
    const ownUpdate = await (await nc.jetstreamManager({ checkAPI: false })).consumers
      .add(STREAMS.events, { durable_name: issued.consumerNames[0], filter_subject: 'evt.user.>', ack_policy: AckPolicy.Explicit, deliver_subject: 'cmd.auth.delete_credentials' })
      .catch((e: Error) => e);
    const ownDelete = await (await nc.jetstreamManager({ checkAPI: false })).consumers.delete(STREAMS.events, issued.consumerNames[0]).catch((e: Error) => e);

    expect(String(push)).toMatch(/Permissions Violation/);
    expect(String(rewrite)).toMatch(/Permissions Violation/);
    expect(String(ownUpdate)).toMatch(/Permissions Violation/);
    expect(String(ownDelete)).toMatch(/Permissions Violation/);
    const after = await (await (await stack.env.connect('admin')).jetstreamManager()).consumers.info(STREAMS.events, 'users_read_model');
    expect(after.config.filter_subject).toBe(before.config.filter_subject);
    expect(after.config.max_ack_pending).toBe(before.config.max_ack_pending);
    const names: string[] = [];
    for await (const c of (await (await stack.env.connect('admin')).jetstreamManager()).consumers.list(STREAMS.events)) names.push(c.name);
    expect(names).not.toContain('x1');
    expect(names).toContain(issued.consumerNames[0]);
  });

  it('reads through its pre-created durable with nats.js', async () => {
    const issued = await issue({ name: 'js-reader', filter: 'evt.user.>' });
    await publishUserEvents(3);
    const { nc, errors } = await connectAs(issued);

    const consumer = await nc.jetstream().consumers.get(STREAMS.events, issued.consumerNames[0]);
    const batch = await consumer.fetch({ max_messages: 3, expires: 3000 });
    const subjects: string[] = [];
    for await (const m of batch) {
      subjects.push(m.subject);
      await m.ackAck();
    }

    expect(subjects).toHaveLength(3);
    for (const s of subjects) expect(s).toMatch(/^evt\.user\./);
    expect((await consumer.info(true)).num_ack_pending).toBe(0);
    expect(errors).toEqual([]);
  });

  // Skipped, with the reason printed, only where libnats-dev cannot be installed.
  (cIntegrator ? it : it.skip)('reads through its pre-created durable with the official NATS C client', async () => {
    const binary = cIntegrator!;
    const issued = await issue({ name: 'c-reader', filter: 'evt.user.>' });
    await publishUserEvents(2);
    const credsFile = join(workDir, 'c-reader.creds');
    writeFileSync(credsFile, issued.creds, { mode: 0o600 });

    const output = execFileSync(binary, [issued.servers, credsFile, issued.inboxPrefix, issued.consumerNames[0], issued.filter, '2'], { encoding: 'utf8', timeout: 20_000 });

    const lines = output.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/^event \d+ evt\.user\./);
    const info = await (await (await stack.env.connect('admin')).jetstreamManager()).consumers.info(STREAMS.events, issued.consumerNames[0]);
    expect(info.ack_floor.consumer_seq).toBe(2);
  });

  it('gives integrators named wide and wide_1 disjoint durables and inboxes', async () => {
    const wide = await issue({ name: 'wide', consumers: 8 });
    const wide1 = await issue({ name: 'wide_1', consumers: 8 });
    const again = await issue({ name: 'wide', consumers: 8 });

    const all = [...wide.consumerNames, ...wide1.consumerNames, ...again.consumerNames];
    expect(new Set(all).size).toBe(24);
    expect(new Set([wide.inboxPrefix, wide1.inboxPrefix, again.inboxPrefix]).size).toBe(3);
    const { nc } = await connectAs(wide);
    const foreign = await nc.jetstream().consumers.get(STREAMS.events, again.consumerNames[0]).catch((e: Error) => e);
    expect(String(foreign)).toMatch(/Permissions Violation/);
  });

  it('revokes credentials: the connected integrator is dropped, cannot reconnect, and its durables are gone', async () => {
    const issued = await issue({ name: 'revoked' });
    const { nc } = await connectAs(issued);
    const closed = nc.closed();
    const token = await stack.adminToken();

    const res = await stack.http().delete(`/api/v1/integrations/nats-credentials/${issued.id}`).set('Authorization', `Bearer ${token}`);

    expect(res.status).toBe(204);
    const dropped = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still connected'), 5000))]);
    expect(dropped).toBe('closed');
    const again = await connectAs(issued).catch((e: Error) => e);
    expect(String(again)).toMatch(/Authorization|revoked/i);
    const names: string[] = [];
    for await (const c of (await (await stack.env.connect('admin')).jetstreamManager()).consumers.list(STREAMS.events)) names.push(c.name);
    expect(names).not.toContain(issued.consumerNames[0]);
    const list = await stack.http().get('/api/v1/integrations/nats-credentials').set('Authorization', `Bearer ${token}`);
    expect(list.status).toBe(200);
    expect(list.body.items.find((i: { id: string }) => i.id === issued.id)).toMatchObject({ status: 'revoked', consumerNames: issued.consumerNames });
    expect(JSON.stringify(list.body)).not.toContain('NKEY SEED');
    const events = await stack.http().get('/api/v1/events?aggregate=integration&aggregate_id=' + issued.id).set('Authorization', `Bearer ${token}`);
    expect(events.body.items.map((i: { event: { type: string } }) => i.event.type)).toEqual(['integration.credentials_issued', 'integration.credentials_revoked']);
  });

  it('answers 404 for unknown credentials and 422 for an id that is not a UUID', async () => {
    const token = await stack.adminToken();

    const unknown = await stack.http().delete('/api/v1/integrations/nats-credentials/6f1c2d7e-0c4b-4d7a-8a8e-2b1f5c9d0e31').set('Authorization', `Bearer ${token}`);
    const malformed = await stack.http().delete('/api/v1/integrations/nats-credentials/not-a-uuid').set('Authorization', `Bearer ${token}`);

    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('NOT_FOUND');
    expect(malformed.status).toBe(422);
    expect(malformed.body.code).toBe('VALIDATION_FAILED');
  });
});
