import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator, JSONCodec, type NatsConnection } from 'nats';
import { Client } from 'pg';
import { agentPermissions, inboxPrefixFromCreds, mintUserCreds } from '@encedeus/messaging';
import { STACK_ADMIN, startStack, type Stack } from './stack-harness';
import { socketAs } from './socket-client';

const NODE_ECHO_TEMPLATE = '00000000-0000-4000-8000-000000000001';
const PROMETHEUS = '/usr/bin/prometheus';
// Debian's prometheus is a real scraper (.ci/run installs it); without it the scrape test is skipped, saying why.
const withPrometheus = existsSync(PROMETHEUS) ? it : it.skip;
if (!existsSync(PROMETHEUS)) console.warn(`fleet-access.security: ${PROMETHEUS} is missing (apt-get install prometheus); the real-scrape test is skipped`);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
const json = JSONCodec<unknown>();


async function natsAs(url: string, creds: string): Promise<NatsConnection> {
  return connect({ servers: url, inboxPrefix: inboxPrefixFromCreds(creds), authenticator: credsAuthenticator(new TextEncoder().encode(creds)) });
}

/** Issue 8, Medium: fleet access, limits, usage from the wrong node, /metrics and job storage — on the real stack with a real agent. */
describe('fleet access (security)', () => {
  let stack: Stack;
  let admin: string;
  let nodeId: string;
  let serverId: string;
  const clean: (() => Promise<unknown> | unknown)[] = [];
  const as = (token: string) => `Bearer ${token}`;

  beforeAll(async () => {
    stack = await startStack();
    admin = await stack.adminToken();
    const http = stack.http;
    const node = await http().post('/api/v1/nodes').set('Authorization', as(admin)).send({ name: 'sec-node', memory_mb: 4096, cpu_percent: 200, storage_size: '10G' });
    nodeId = node.body.id;
    stack.startAgent(node.body.enrollment.token);
    await stack.waitFor('node online', async () => (await http().get(`/api/v1/nodes/${nodeId}`).set('Authorization', as(admin))).body.state === 'online', 60_000);
    const server = await http().post('/api/v1/servers').set('Authorization', as(admin)).send({ name: 'admins-echo', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, limits: { memory_mb: 256, cpu_percent: 50, disk_mb: 200 } });
    serverId = server.body.id;
    const state = async () => (await http().get(`/api/v1/servers/${serverId}`).set('Authorization', as(admin))).body.state as string;
    await stack.waitFor('installed', async () => (await state()) === 'offline', 60_000);
    await http().post(`/api/v1/servers/${serverId}/power`).set('Authorization', as(admin)).send({ action: 'start' });
    await stack.waitFor('running', async () => (await state()) === 'running', 30_000);
  }, 150_000);

  afterAll(async () => {
    for (const c of clean.reverse()) await c();
    await stack?.stop();
  });

  /** A user holding exactly `permissions`, signed in. */
  async function userWith(name: string, permissions: string[]): Promise<{ id: string; token: string }> {
    const http = stack.http;
    const role = await http().post('/api/v1/roles').set('Authorization', as(admin)).send({ name: `${name}-role`, permissions });
    expect(role.status).toBe(201);
    const user = await http().post('/api/v1/users').set('Authorization', as(admin)).send({ name, email: `${name}@sec.test`, password: `${name} password 1`, role_name: `${name}-role` });
    expect(user.status).toBe(201);
    const login = await http().post('/api/v1/auth/login').send({ email: `${name}@sec.test`, password: `${name} password 1` });
    expect(login.status).toBe(200);
    return { id: user.body.id, token: login.body.accessToken };
  }

  it('refuses socket servers.command from a non-owner holding servers.read + servers.console; the line never reaches the server', async () => {
    const eve = await userWith('eve', ['servers.read', 'servers.console']);
    const nc = await natsAs(stack.env.nats.url, await stack.env.nats.creds('admin'));
    clean.push(() => nc.close());
    const seen: string[] = [];
    nc.subscribe(`console.${serverId}.>`, { callback: (_e, m) => seen.push(new TextDecoder().decode(m.data)) });
    await nc.flush();
    const intruder = await socketAs(stack.gateway.url, eve.token);
    const owner = await socketAs(stack.gateway.url, admin);
    clean.push(() => intruder.socket.close(), () => owner.socket.close());

    intruder.socket.emit('call', { id: 'x1', call: 'servers.command', params: { serverId, command: 'typed-by-eve' } });
    const refused = await stack.waitFor('eve result', async () => intruder.received.find((r) => r.event === 'result' && r.data.id === 'x1')?.data);
    // A marker from the owner after eve's attempt: once it is echoed, eve's line would have been too.
    owner.socket.emit('call', { id: 'm1', call: 'servers.command', params: { serverId, command: 'owner-marker' } });
    await stack.waitFor('owner marker echoed', async () => seen.some((l) => l.includes('owner-marker')), 15_000);

    expect(refused).toMatchObject({ id: 'x1', success: false, code: 'FORBIDDEN' });
    expect(seen.filter((l) => l.includes('typed-by-eve'))).toEqual([]);
    const rest = await stack.http().post(`/api/v1/servers/${serverId}/command`).set('Authorization', as(eve.token)).send({ command: 'typed-by-eve-rest' });
    expect(rest.status).toBe(403);
  }, 60_000);

  it('refuses limits below the minimums (0 is not unlimited) with the field in a 422', async () => {
    const http = stack.http;
    const cases = [
      { memory_mb: 0 },
      { cpu_percent: 0 },
      { disk_mb: 0 },
      { memory_mb: 15 },
      { disk_mb: 8 },
    ];
    for (const limits of cases) {
      const patch = await http().patch(`/api/v1/servers/${serverId}`).set('Authorization', as(admin)).send({ limits });
      const create = await http().post('/api/v1/servers').set('Authorization', as(admin)).send({ name: 'tiny', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, limits });
      const field = Object.keys(limits)[0];

      expect({ limits, status: patch.status, code: patch.body.code }).toEqual({ limits, status: 422, code: 'VALIDATION_FAILED' });
      expect(JSON.stringify(patch.body)).toContain(field);
      expect({ limits, status: create.status }).toEqual({ limits, status: 422 });
      expect(JSON.stringify(create.body)).toContain(field);
    }
    const view = await http().get(`/api/v1/servers/${serverId}`).set('Authorization', as(admin));
    expect(view.body.limits).toEqual({ memory_mb: 256, cpu_percent: 50, disk_mb: 200 });
  }, 30_000);

  it('refuses CPU over the node allocatable, as it refuses memory', async () => {
    const http = stack.http;
    const create = await http().post('/api/v1/servers').set('Authorization', as(admin)).send({ name: 'hog', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, limits: { memory_mb: 64, cpu_percent: 300, disk_mb: 64 } });
    const patch = await http().patch(`/api/v1/servers/${serverId}`).set('Authorization', as(admin)).send({ limits: { cpu_percent: 201 } });
    const fits = await http().patch(`/api/v1/servers/${serverId}`).set('Authorization', as(admin)).send({ limits: { cpu_percent: 150 } });

    expect(create.status).toBe(409);
    expect(create.body).toMatchObject({ code: 'INSUFFICIENT_CAPACITY', details: { requested_cpu_percent: 300, free_cpu_percent: 150, total_cpu_percent: 200 } });
    expect(patch.status).toBe(409);
    expect(patch.body).toMatchObject({ code: 'INSUFFICIENT_CAPACITY', details: { requested_cpu_percent: 201, free_cpu_percent: 200, total_cpu_percent: 200 } });
    expect(fits.status).toBe(200);
    expect(fits.body.limits.cpu_percent).toBe(150);
  }, 30_000);

  it('ignores usage that another node publishes for a server it does not run (nodes cache and socket pushes)', async () => {
    const http = stack.http;
    const other = await http().post('/api/v1/nodes').set('Authorization', as(admin)).send({ name: 'forger', memory_mb: 1024, cpu_percent: 100, storage_size: '1G' });
    const forgerId = other.body.id as string;
    const forger = await natsAs(stack.env.nats.url, await mintUserCreds(stack.env.nats.signer, `agent-${forgerId}`, agentPermissions(forgerId)));
    clean.push(() => forger.close());
    const watcher = await socketAs(stack.gateway.url, admin);
    clean.push(() => watcher.socket.close());
    const joined = await watcher.socket.emitWithAck('subscribe', { room: `server:${serverId}` });
    expect(joined).toEqual({ ok: true });
    const seenByRest: number[] = [];

    for (let round = 1; round <= 5; round++) {
      const marker = 7000 + round;
      const forged = { server_id: serverId, cpu_percent: 4242, memory_bytes: 4242, memory_limit_bytes: 4242, disk_bytes: 4242, uptime_ms: 1, at: Date.now() };
      forger.publish(`tel.${forgerId}.${serverId}.usage`, json.encode(forged));
      forger.publish(`tel.${forgerId}.usage`, json.encode({ at: Date.now(), cpu_percent: marker, memory_used: 1, memory_total: 2, load: [0, 0, 0], disk_used: 0, disk_total: 0, net_rx: 0, net_tx: 0, servers: [forged] }));
      await forger.flush();
      // The node's own sample came after the forged ones on the same connection: once it shows, both were handled.
      await stack.waitFor(`forger sample ${round}`, async () => (await http().get(`/api/v1/nodes/${forgerId}/metrics`).set('Authorization', as(admin))).body.cpu_percent === marker, 10_000);
      const view = await http().get(`/api/v1/servers/${serverId}`).set('Authorization', as(admin));
      seenByRest.push(view.body.usage?.cpu_percent ?? -1);
    }
    // A genuine sample pushed after the last forged one: the feed handled the forged ones before it.
    const after = Date.now();
    await stack.waitFor('a later genuine usage push', async () => watcher.received.some((r) => r.event === 'server.usage' && r.data.serverId === serverId && Date.parse(r.data.at) > after), 15_000);

    expect(seenByRest).not.toContain(4242);
    expect(watcher.received.filter((r) => r.event === 'server.usage' && r.data.cpu_percent === 4242)).toEqual([]);
  }, 90_000);

  it('answers /metrics only to a bearer holding metrics.read', async () => {
    const http = stack.http;
    const nobody = await http().get('/metrics');
    const narrow = await userWith('narrow', ['nodes.read']);
    const weak = await http().get('/metrics').set('Authorization', as(narrow.token));
    const key = await http().post('/api/v1/api-keys').set('Authorization', as(admin)).send({ name: 'prometheus', permissions: ['metrics.read'] });
    const scrape = await http().get('/metrics').set('Authorization', as(key.body.key));

    expect(nobody.status).toBe(401);
    expect(nobody.body).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(weak.status).toBe(403);
    expect(scrape.status).toBe(200);
    expect(scrape.text).toContain('encedeus_http_request_duration_seconds');
  }, 30_000);

  withPrometheus('lets a real Prometheus scrape /metrics with a bearer token file, and not without one', async () => {
    const key = await stack.http().post('/api/v1/api-keys').set('Authorization', as(admin)).send({ name: 'prometheus-scraper', permissions: ['metrics.read'] });
    expect(key.status).toBe(201);
    const dir = mkdtempSync(join(tmpdir(), 'encedeus-prometheus-'));
    clean.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'metrics.key'), key.body.key, { mode: 0o600 });
    const target = new URL(stack.gateway.url).host;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, scrape_timeout: 1s }',
        'scrape_configs:',
        '  - job_name: encedeus',
        '    metrics_path: /metrics',
        `    authorization: { type: Bearer, credentials_file: ${join(dir, 'metrics.key')} }`,
        `    static_configs: [{ targets: ['${target}'] }]`,
        '  - job_name: anonymous',
        '    metrics_path: /metrics',
        `    static_configs: [{ targets: ['${target}'] }]`,
      ].join('\n'),
    );
    const port = await freePort();
    const prometheus = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    clean.push(() => prometheus.kill('SIGKILL'));
    const up = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=up`);
      const body = (await res.json()) as { data: { result: { metric: { job: string }; value: [number, string] }[] } };
      return Object.fromEntries(body.data.result.map((r) => [r.metric.job, r.value[1]]));
    };

    const scraped = await stack.waitFor('both scrape jobs reported', async () => {
      const jobs = await up();
      return jobs.encedeus !== undefined && jobs.anonymous !== undefined ? jobs : undefined;
    }, 30_000);

    expect(scraped).toEqual({ encedeus: '1', anonymous: '0' });
  }, 60_000);

  it('lists job history newest first: own jobs without jobs.read, everyone\'s with it, 403 with neither', async () => {
    const http = stack.http;
    const runner = await userWith('job-runner', ['jobs.run']);
    const nobody = await userWith('job-nobody', ['nodes.read']);
    const run = async (token: string, tag: string) => {
      const res = await http().post('/api/v1/jobs').set('Authorization', as(token)).send({ runtime: 'bash', code: `echo ${tag}`, node_id: nodeId });
      expect(res.status).toBe(200);
      return res.body.id as string;
    };
    const mine1 = await run(runner.token, 'one');
    const mine2 = await run(runner.token, 'two');
    const admins = await run(admin, 'admin');

    const own = await http().get('/api/v1/jobs').set('Authorization', as(runner.token));
    expect(own.status).toBe(200);
    expect(own.body.items.map((j: { id: string }) => j.id)).toEqual([mine2, mine1]);
    expect(own.body.items[0]).toMatchObject({ status: 'succeeded', runtime: 'bash', owner_id: runner.id, exit_code: 0 });
    expect(own.body.items[0]).not.toHaveProperty('stdout');
    // Asking for someone else's jobs changes nothing without jobs.read.
    const sneaky = await http().get(`/api/v1/jobs?owner_id=${(await http().get('/api/v1/users/me').set('Authorization', as(admin))).body.id}`).set('Authorization', as(runner.token));
    expect(sneaky.body.items.map((j: { id: string }) => j.id)).toEqual([mine2, mine1]);
    expect((await http().get(`/api/v1/jobs/${admins}`).set('Authorization', as(runner.token))).status).toBe(404);

    const all = await http().get('/api/v1/jobs?limit=500').set('Authorization', as(admin));
    const ids = all.body.items.map((j: { id: string }) => j.id);
    expect(ids.indexOf(admins)).toBeLessThan(ids.indexOf(mine2));
    expect(ids.indexOf(mine2)).toBeLessThan(ids.indexOf(mine1));
    const theirs = await http().get(`/api/v1/jobs?owner_id=${runner.id}`).set('Authorization', as(admin));
    expect(theirs.body.items.map((j: { id: string }) => j.id)).toEqual([mine2, mine1]);

    // Pages of one, by cursor.
    const first = await http().get('/api/v1/jobs?limit=1').set('Authorization', as(runner.token));
    expect(first.body.items.map((j: { id: string }) => j.id)).toEqual([mine2]);
    const second = await http().get(`/api/v1/jobs?limit=1&cursor=${encodeURIComponent(first.body.nextCursor)}`).set('Authorization', as(runner.token));
    expect(second.body.items.map((j: { id: string }) => j.id)).toEqual([mine1]);
    expect(second.body.nextCursor).toBeNull();

    const forbidden = await http().get('/api/v1/jobs').set('Authorization', as(nobody.token));
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ code: 'FORBIDDEN' });
    for (const bad of ['cursor=nonsense', 'cursor=2026-01-01T00:00:00Z%7Cnot-a-uuid', 'status=exploded', 'owner_id=x']) {
      const res = await http().get(`/api/v1/jobs?${bad}`).set('Authorization', as(admin));
      expect([400, 422]).toContain(res.status);
      expect(res.body).toHaveProperty('code');
    }
  }, 90_000);

  it('names users and roles in the audit log beside their ids', async () => {
    const http = stack.http;
    const auditee = await userWith('auditee', ['nodes.read']);
    const me = (await http().get('/api/v1/users/me').set('Authorization', as(admin))).body as { id: string; name: string };
    const entries = await stack.waitFor('the audit entry of the new user', async () => {
      const res = await http().get(`/api/v1/audit?subject=${encodeURIComponent(`user/${auditee.id}`)}`).set('Authorization', as(admin));
      return res.body.items?.length ? (res.body.items as { actor: string; actorName?: string; subjectName?: string; action: string }[]) : undefined;
    }, 20_000);
    const created = entries.find((e) => e.action === 'user.created');
    expect(created).toMatchObject({ actor: `user:${me.id}`, actorName: me.name, subjectName: 'auditee' });
  }, 60_000);

  it('names servers, nodes and templates in the audit log and the event feed, only to whoever may see them (issue 14)', async () => {
    const http = stack.http;
    const me = (await http().get('/api/v1/users/me').set('Authorization', as(admin))).body as { id: string; name: string };
    const templateName = (await http().get(`/api/v1/templates/${NODE_ECHO_TEMPLATE}`).set('Authorization', as(admin))).body.name as string;
    const fleetSubjects: [string, string][] = [
      [`server/${serverId}`, 'admins-echo'],
      [`node/${nodeId}`, 'sec-node'],
      [`template/${NODE_ECHO_TEMPLATE}`, templateName],
    ];
    type Row = { subject: string; subjectName?: string; actor: string; actorName?: string };
    const auditOf = async (token: string, subject: string): Promise<Row[]> => {
      const res = await http().get(`/api/v1/audit?subject=${encodeURIComponent(subject)}`).set('Authorization', as(token));
      expect(res.status).toBe(200);
      return res.body.items;
    };
    type Item = { event: { type: string; actor: string }; subjectName?: string; actorName?: string };
    const serverEvents = async (token: string): Promise<Item[]> => {
      const res = await http().get(`/api/v1/events?aggregate=server&aggregate_id=${serverId}&limit=200`).set('Authorization', as(token));
      expect(res.status).toBe(200);
      return res.body.items;
    };

    // The admin sees the whole fleet: every row of each subject carries its name, and the id stays.
    for (const [subject, name] of fleetSubjects) {
      const rows = await stack.waitFor(`audit rows of ${subject}`, async () => {
        const r = await auditOf(admin, subject);
        return r.length ? r : undefined;
      }, 20_000);
      expect({ subject, names: [...new Set(rows.map((r) => r.subjectName))], ids: [...new Set(rows.map((r) => r.subject))] }).toEqual({ subject, names: [name], ids: [subject] });
    }
    const events = await serverEvents(admin);
    expect(events.map((i) => i.event.type)).toEqual(expect.arrayContaining(['server.created', 'server.running']));
    expect([...new Set(events.map((i) => i.subjectName))]).toEqual(['admins-echo']);
    expect(events.find((i) => i.event.type === 'server.created')).toMatchObject({ event: { actor: `user:${me.id}` }, actorName: me.name });
    const byAgent = events.find((i) => i.event.actor === `agent:${nodeId}`);
    expect(byAgent).toMatchObject({ actorName: 'agent of sec-node' });

    // An auditor who may read the logs but sees no server, node or template gets ids only.
    const auditor = await userWith('auditor', ['audit.read', 'events.read']);
    for (const [subject, name] of fleetSubjects) {
      const rows = await auditOf(auditor.token, subject);
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.filter((r) => r.subjectName !== undefined)).toEqual([]);
      expect(JSON.stringify(rows)).not.toContain(name);
    }
    const hidden = await serverEvents(auditor.token);
    expect(hidden.filter((i) => i.subjectName !== undefined)).toEqual([]);
    expect(hidden.find((i) => i.event.actor === `agent:${nodeId}`)?.actorName).toBeUndefined();

    // Made a sub-user of the server, the same auditor sees that server's name, still not the node's.
    const added = await http().post(`/api/v1/servers/${serverId}/users`).set('Authorization', as(admin)).send({ user_id: auditor.id, permissions: ['console'] });
    expect(added.status).toBe(201);
    clean.push(() => http().delete(`/api/v1/servers/${serverId}/users/${auditor.id}`).set('Authorization', as(admin)));
    const shared = await stack.waitFor('the shared server named for its sub-user', async () => {
      const rows = await auditOf(auditor.token, `server/${serverId}`);
      return rows.every((r) => r.subjectName === 'admins-echo') ? rows : undefined;
    }, 20_000);
    expect(shared.length).toBeGreaterThan(0);
    expect((await auditOf(auditor.token, `node/${nodeId}`)).filter((r) => r.subjectName !== undefined)).toEqual([]);
  }, 60_000);

  it('names deleted servers, nodes and templates by the last name they had, only to whoever could see them (issue 14)', async () => {
    const http = stack.http;
    const viewer = await userWith('fleet-viewer', ['audit.read', 'events.read', 'servers.read', 'nodes.read', 'templates.read']);
    const auditor = await userWith('blind-auditor', ['audit.read', 'events.read']);
    const template = await http().post('/api/v1/templates').set('Authorization', as(admin)).send({ name: 'doomed template', driver: 'process', startup: 'echo hi' });
    expect(template.status).toBe(201);
    const node = await http().post('/api/v1/nodes').set('Authorization', as(admin)).send({ name: 'doomed-node', memory_mb: 512, cpu_percent: 50, storage_size: '1G' });
    expect(node.status).toBe(201);
    const server = await http().post('/api/v1/servers').set('Authorization', as(admin)).send({ name: 'doomed-echo', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, limits: { memory_mb: 64, cpu_percent: 10, disk_mb: 64 } });
    expect(server.status).toBe(201);
    await stack.waitFor('doomed-echo installed', async () => (await http().get(`/api/v1/servers/${server.body.id}`).set('Authorization', as(admin))).body.state === 'offline', 60_000);
    // Renamed before it goes: the last name is the one shown.
    expect((await http().patch(`/api/v1/servers/${server.body.id}`).set('Authorization', as(admin)).send({ name: 'doomed-echo-renamed' })).status).toBe(200);
    expect((await http().delete(`/api/v1/templates/${template.body.id}`).set('Authorization', as(admin))).status).toBeLessThan(300);
    expect((await http().delete(`/api/v1/nodes/${node.body.id}`).set('Authorization', as(admin))).status).toBeLessThan(300);
    expect((await http().delete(`/api/v1/servers/${server.body.id}`).set('Authorization', as(admin))).status).toBeLessThan(300);
    await stack.waitFor('doomed-echo deleted', async () => (await http().get(`/api/v1/servers/${server.body.id}`).set('Authorization', as(admin))).status === 404, 30_000);
    const deleted: [string, string, string][] = [
      [`server/${server.body.id}`, 'doomed-echo-renamed', 'server.deleted'],
      [`node/${node.body.id}`, 'doomed-node', 'node.deleted'],
      [`template/${template.body.id}`, 'doomed template', 'template.deleted'],
    ];
    type Row = { subject: string; action: string; subjectName?: string };
    const auditOf = async (token: string, subject: string): Promise<Row[]> => (await http().get(`/api/v1/audit?subject=${encodeURIComponent(subject)}`).set('Authorization', as(token))).body.items;

    for (const [subject, name, deletion] of deleted) {
      const rows = await stack.waitFor(`${deletion} named in the audit log`, async () => {
        const r = await auditOf(viewer.token, subject);
        return r.some((e) => e.action === deletion && e.subjectName !== undefined) ? r : undefined;
      }, 20_000).catch(() => auditOf(viewer.token, subject));
      expect({ subject, names: [...new Set(rows.map((r) => r.subjectName))] }).toEqual({ subject, names: [name] });
      const [aggregate, id] = subject.split('/');
      const feed = await http().get(`/api/v1/events?aggregate=${aggregate}&aggregate_id=${id}&limit=200`).set('Authorization', as(viewer.token));
      expect({ subject, names: [...new Set((feed.body.items as { subjectName?: string }[]).map((i) => i.subjectName))] }).toEqual({ subject, names: [name] });

      const hidden = await auditOf(auditor.token, subject);
      expect(hidden.length).toBeGreaterThan(0);
      expect(JSON.stringify(hidden)).not.toContain(name);
    }
  }, 120_000);

  it('names the target of alert rules, only to whoever may see it (issue 14)', async () => {
    const http = stack.http;
    const rules = [
      await http().post('/api/v1/alerts/rules').set('Authorization', as(admin)).send({ name: 'echo hot', target: `server:${serverId}`, field: 'cpu_percent', comparator: '>', threshold: 1000 }),
      await http().post('/api/v1/alerts/rules').set('Authorization', as(admin)).send({ name: 'node hot', target: `node:${nodeId}`, field: 'cpu_percent', comparator: '>', threshold: 1000 }),
    ];
    for (const r of rules) expect(r.status).toBe(201);
    const ids = rules.map((r) => r.body.id as string);
    const watcher = await userWith('alert-watcher', ['metrics.read']);
    type Rule = { id: string; target: string; target_name?: string };
    const listed = async (token: string) => ((await http().get('/api/v1/alerts/rules').set('Authorization', as(token))).body.items as Rule[]).filter((r) => ids.includes(r.id));

    expect((await listed(admin)).map((r) => r.target_name).sort()).toEqual(['admins-echo', 'sec-node']);
    expect((await http().get(`/api/v1/alerts/rules/${ids[0]}`).set('Authorization', as(admin))).body).toMatchObject({ target: `server:${serverId}`, target_name: 'admins-echo' });
    // metrics.read alone sees neither the server (not its owner nor a sub-user) nor the node (no nodes.read): not their rules, not their names.
    expect(await listed(watcher.token)).toEqual([]);
    const hidden = await http().get(`/api/v1/alerts/rules/${ids[0]}`).set('Authorization', as(watcher.token));
    expect(hidden.status).toBe(404);
    expect(JSON.stringify(hidden.body)).not.toContain('admins-echo');
    for (const id of ids) await http().delete(`/api/v1/alerts/rules/${id}`).set('Authorization', as(admin));
  }, 60_000);

  it("hides alert rules whose target the caller may not see: 404 on GET, PATCH and DELETE, left out of the list (issue 12)", async () => {
    const http = stack.http;
    const tenant = await userWith('rule-tenant', ['alerts.manage', 'metrics.read']);
    const own = await http().post('/api/v1/servers').set('Authorization', as(admin)).send({ name: 'tenants-echo', template_id: NODE_ECHO_TEMPLATE, node_id: nodeId, owner_id: tenant.id, limits: { memory_mb: 64, cpu_percent: 10, disk_mb: 64 } });
    expect(own.status).toBe(201);
    const ownId = own.body.id as string;
    await stack.waitFor('tenants-echo installed', async () => (await http().get(`/api/v1/servers/${ownId}`).set('Authorization', as(admin))).body.state === 'offline', 60_000);
    clean.push(() => http().delete(`/api/v1/servers/${ownId}`).set('Authorization', as(admin)));
    const rule = (token: string, name: string, target: string) => http().post('/api/v1/alerts/rules').set('Authorization', as(token)).send({ name, target, field: 'cpu_percent', comparator: '>', threshold: 1000 });
    const admins = await rule(admin, 'admins echo hot', `server:${serverId}`);
    const adminsNode = await rule(admin, 'admins node hot', `node:${nodeId}`);
    const tenants = await rule(tenant.token, 'tenants echo hot', `server:${ownId}`);
    expect([admins.status, adminsNode.status, tenants.status]).toEqual([201, 201, 201]);
    const [theirs, node, mine] = [admins.body.id as string, adminsNode.body.id as string, tenants.body.id as string];
    clean.push(async () => {
      for (const id of [theirs, node, mine]) await http().delete(`/api/v1/alerts/rules/${id}`).set('Authorization', as(admin));
    });
    const ruleUrl = (id: string) => `/api/v1/alerts/rules/${id}`;
    const listedIds = async (token: string) => ((await http().get('/api/v1/alerts/rules').set('Authorization', as(token))).body.items as { id: string }[]).map((r) => r.id).filter((id) => [theirs, node, mine].includes(id));

    // Another tenant's server rule (and a node rule without nodes.read) answers as a rule that does not exist.
    const unknown = await http().get(ruleUrl('6f1c2b1e-0000-4000-8000-000000000000')).set('Authorization', as(tenant.token));
    const read = await http().get(ruleUrl(theirs)).set('Authorization', as(tenant.token));
    const readNode = await http().get(ruleUrl(node)).set('Authorization', as(tenant.token));
    const patched = await http().patch(ruleUrl(theirs)).set('Authorization', as(tenant.token)).send({ threshold: 1 });
    const hijacked = await http().patch(ruleUrl(theirs)).set('Authorization', as(tenant.token)).send({ target: `server:${ownId}` });
    const deleted = await http().delete(ruleUrl(theirs)).set('Authorization', as(tenant.token));
    const deletedNode = await http().delete(ruleUrl(node)).set('Authorization', as(tenant.token));
    expect([unknown.status, unknown.body]).toEqual([404, expect.objectContaining({ error: expect.any(String), code: 'NOT_FOUND' })]);
    for (const res of [read, readNode, patched, hijacked, deleted, deletedNode]) {
      expect([res.status, Object.keys(res.body).sort(), res.body.code]).toEqual([404, Object.keys(unknown.body).sort(), 'NOT_FOUND']);
      expect(JSON.stringify(res.body)).not.toContain('admins');
    }
    expect(await listedIds(tenant.token)).toEqual([mine]);
    const untouched = await http().get(ruleUrl(theirs)).set('Authorization', as(admin));
    expect([untouched.status, untouched.body]).toEqual([200, expect.objectContaining({ target: `server:${serverId}`, threshold: 1000, version: admins.body.version })]);
    expect((await http().get(ruleUrl(node)).set('Authorization', as(admin))).status).toBe(200);

    // Their own server's rule they still read and manage; a new target must be one they see too.
    expect((await http().get(ruleUrl(mine)).set('Authorization', as(tenant.token))).body).toMatchObject({ target: `server:${ownId}`, target_name: 'tenants-echo' });
    const changed = await http().patch(ruleUrl(mine)).set('Authorization', as(tenant.token)).send({ threshold: 5 });
    const toHidden = await http().patch(ruleUrl(mine)).set('Authorization', as(tenant.token)).send({ target: `server:${serverId}` });
    const toNode = await http().patch(ruleUrl(mine)).set('Authorization', as(tenant.token)).send({ target: `node:${nodeId}` });
    expect([changed.status, changed.body.threshold]).toEqual([200, 5]);
    expect([toHidden.status, toNode.status]).toEqual([404, 403]);

    // The admin (servers.read and nodes.read) sees every rule.
    expect((await listedIds(admin)).sort()).toEqual([theirs, node, mine].sort());

    // A sub-user of the admin's server sees its rule (contracts' canSeeServer), not the node's.
    const added = await http().post(`/api/v1/servers/${serverId}/users`).set('Authorization', as(admin)).send({ user_id: tenant.id, permissions: ['console'] });
    expect(added.status).toBe(201);
    const shared = await stack.waitFor('the shared server rule visible to its sub-user', async () => {
      const res = await http().get(ruleUrl(theirs)).set('Authorization', as(tenant.token));
      return res.status === 200 ? res : undefined;
    }, 20_000);
    expect(shared.body).toMatchObject({ id: theirs, target_name: 'admins-echo' });
    expect((await listedIds(tenant.token)).sort()).toEqual([theirs, mine].sort());
    expect((await http().delete(`/api/v1/servers/${serverId}/users/${tenant.id}`).set('Authorization', as(admin))).status).toBeLessThan(300);

    expect((await http().delete(ruleUrl(mine)).set('Authorization', as(tenant.token))).status).toBe(204);
  }, 120_000);

  it('records the address and user agent of the request behind each change, and none for changes made on the bus (issue 14)', async () => {
    const http = stack.http;
    const ua = `audit-check/1.0 (${randomUUID()})`;
    const made = await http().post('/api/v1/roles').set('Authorization', as(admin)).set('User-Agent', ua).send({ name: `ua-role-${Date.now()}`, permissions: ['nodes.read'] });
    expect(made.status).toBe(201);
    // A timeout says which half is missing: the audit projection behind the identity one (both follow
    // EVENTS, and the POST answered once identity had applied it), or the request's source row.
    const explained = <T>(wait: Promise<T>): Promise<T> =>
      wait.catch(async (error: Error) => {
        const db = new Client({ connectionString: stack.env.db.url });
        await db.connect();
        try {
          const checkpoints = (await db.query(`select name, last_sequence from gateway.projection_checkpoints order by name`)).rows.map((r) => `${r.name} at ${r.last_sequence}`);
          const sources = (await db.query(`select count(*)::int as n from gateway.request_sources where user_agent = any($1)`, [[ua, `${ua} login`]])).rows[0].n;
          throw new Error(`${error.message}\n(${checkpoints.join(', ')}; request sources with this test's user agents: ${sources})`);
        } finally {
          await db.end();
        }
      });
    const entry = await explained(stack.waitFor('the audit entry with its source', async () => {
      const res = await http().get(`/api/v1/audit?subject=${encodeURIComponent(`role/${made.body.id}`)}`).set('Authorization', as(admin));
      const item = (res.body.items as { action: string; ip: string | null; userAgent: string | null }[] | undefined)?.find((e) => e.action === 'role.created');
      return item?.ip ? item : undefined;
    }, 20_000));
    expect(entry.ip).toMatch(/127\.0\.0\.1$/);
    expect(entry.userAgent).toBe(ua);

    const csv = await http().get(`/api/v1/audit/export?subject=${encodeURIComponent(`role/${made.body.id}`)}`).set('Authorization', as(admin)).buffer(true).parse((res, cb) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => cb(null, text));
    });
    const lines = (csv.body as string).trim().split('\r\n');
    expect(lines[0].endsWith(',ip,user_agent')).toBe(true);
    expect(lines[1]).toContain(ua);

    // A sign-in is recorded with where it came from too.
    const me = (await http().get('/api/v1/users/me').set('Authorization', as(admin))).body as { id: string };
    const latest = await http().get(`/api/v1/audit?limit=1`).set('Authorization', as(admin));
    const before = Number(latest.body.items[0]?.sequence ?? 0);
    const signIn = await http().post('/api/v1/auth/login').set('User-Agent', `${ua} login`).send(STACK_ADMIN);
    expect(signIn.status).toBe(200);
    const login = await explained(stack.waitFor('the sign-in with its source', async () => {
      const res = await http().get(`/api/v1/audit?subject=${encodeURIComponent(`session/${me.id}`)}&action=user.logged_in`).set('Authorization', as(admin));
      const item = (res.body.items as { sequence: number; ip: string | null; userAgent: string | null }[] | undefined)?.find((e) => e.sequence > before);
      return item?.userAgent ? item : undefined;
    }, 20_000));
    expect(login).toMatchObject({ ip: expect.stringMatching(/127\.0\.0\.1$/), userAgent: `${ua} login` });

    // A refused request changes nothing and leaves no source behind.
    const refused = await http().post('/api/v1/roles').set('Authorization', as(admin)).set('User-Agent', 'refused-agent').send({ name: '' });
    expect(refused.status).toBe(422);
    const db = new Client({ connectionString: stack.env.db.url });
    await db.connect();
    try {
      const { rows } = await db.query(`select count(*)::int as n from gateway.request_sources where user_agent = 'refused-agent'`);
      expect(rows[0].n).toBe(0);
    } finally {
      await db.end();
    }
  }, 60_000);

  it('keeps job code and stdin out of EVENTS: the event holds a hash and size, the text is stored once', async () => {
    const http = stack.http;
    // The marker is a comment: what the job prints (job.finished stdout) may be in EVENTS, its code may not.
    const code = `true # secret-code-${Date.now()}`;
    const stdin = 'secret-stdin';
    const first = await http().post('/api/v1/jobs?wait=false').set('Authorization', as(admin)).send({ runtime: 'bash', code, stdin, node_id: nodeId });
    const second = await http().post('/api/v1/jobs?wait=false').set('Authorization', as(admin)).send({ runtime: 'bash', code, stdin, node_id: nodeId });
    expect([first.status, second.status]).toEqual([202, 202]);

    const events = await http().get(`/api/v1/events?aggregate=job&aggregate_id=${first.body.id}&limit=50`).set('Authorization', as(admin));
    const created = events.body.items.map((i: { event: { type: string; data: Record<string, unknown> } }) => i.event).find((e: { type: string }) => e.type === 'job.created');
    expect(created.data).toMatchObject({ code_sha256: expect.stringMatching(/^[0-9a-f]{64}$/), code_bytes: Buffer.byteLength(code), stdin_bytes: stdin.length });
    expect(JSON.stringify(events.body)).not.toContain('secret-code');
    expect(JSON.stringify(events.body)).not.toContain('secret-stdin');
    const db = new Client({ connectionString: stack.env.db.url });
    await db.connect();
    try {
      const rows = await db.query(`select sha256, bytes from nodes.job_inputs where sha256 = $1`, [created.data.code_sha256]);
      expect(rows.rows).toEqual([{ sha256: created.data.code_sha256, bytes: Buffer.byteLength(code) }]);
    } finally {
      await db.end();
    }
  }, 60_000);
});
