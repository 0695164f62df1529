import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JSONCodec } from 'nats';
import { freePort } from '@encedeus/testing';
import { startStack, type Stack } from '../../gateway/test/stack-harness';

const PROMETHEUS = '/usr/bin/prometheus';
// Debian's prometheus is a real scraper (.ci/run installs it); without it the scrape test is skipped, saying why.
const withPrometheus = existsSync(PROMETHEUS) ? it : it.skip;
if (!existsSync(PROMETHEUS)) console.warn(`metrics-rest.e2e: ${PROMETHEUS} is missing (apt-get install prometheus); the real-scrape test is skipped`);

const as = (token: string) => `Bearer ${token}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Issue 12 acceptance on the real stack: NATS, Postgres, the metrics service and a real agent whose
 * process-driver server is sampled every second (stack default STACK_AGENT_USAGE_MS).
 */
describe('GET /api/v1/metrics (real stack, real agent)', () => {
  let stack: Stack;
  let admin: string;
  let nodeId: string;
  let serverId: string;
  let runningSince: number;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };

  async function userWith(name: string, permissions: string[]) {
    const http = stack.http;
    const role = await http().post('/api/v1/roles').set('Authorization', as(admin)).send({ name: `${name}-role`, permissions });
    if (role.status !== 201) throw new Error(`role: ${role.status} ${JSON.stringify(role.body)}`);
    const user = await http().post('/api/v1/users').set('Authorization', as(admin)).send({ name, email: `${name}@metrics.test`, password: `${name} password 1`, role_name: `${name}-role` });
    if (user.status !== 201) throw new Error(`user: ${user.status} ${JSON.stringify(user.body)}`);
    const login = await http().post('/api/v1/auth/login').send({ email: `${name}@metrics.test`, password: `${name} password 1` });
    return { id: user.body.id as string, token: login.body.accessToken as string };
  }

  beforeAll(async () => {
    stack = await startStack({ files: false });
    admin = await stack.adminToken();
    const http = stack.http;
    const node = await http().post('/api/v1/nodes').set('Authorization', as(admin)).send({ name: 'metrics-node', memory_mb: 4096, cpu_percent: 400, storage_size: '10G' });
    nodeId = node.body.id;
    stack.startAgent(node.body.enrollment.token);
    await stack.waitFor('node online', async () => (await http().get(`/api/v1/nodes/${nodeId}`).set('Authorization', as(admin))).body.state === 'online', 30_000);
    alice = await userWith('alice', ['nodes.read', 'servers.create', 'servers.power']);
    bob = await userWith('bob', ['nodes.read']);
    const template = await http()
      .post('/api/v1/templates')
      .set('Authorization', as(admin))
      .send({ name: 'sleeper', driver: 'process', startup: 'echo "Server ready"; exec sleep 3600', ready_pattern: 'Server ready', stop: { signal: 'SIGKILL', timeout_s: 5 }, limits: { memory_mb: 64, cpu_percent: 50, disk_mb: 100 } });
    const created = await http()
      .post('/api/v1/servers')
      .set('Authorization', as(admin))
      .send({ name: 'sampled', template_id: template.body.id, node_id: nodeId, owner_id: alice.id, limits: { memory_mb: 64, cpu_percent: 50, disk_mb: 100 } });
    if (created.status !== 201) throw new Error(`server: ${created.status} ${JSON.stringify(created.body)}`);
    serverId = created.body.id;
    const state = async () => (await http().get(`/api/v1/servers/${serverId}`).set('Authorization', as(admin))).body.state as string;
    await stack.waitFor('installed', async () => (await state()) === 'offline', 60_000);
    await http().post(`/api/v1/servers/${serverId}/power`).set('Authorization', as(admin)).send({ action: 'start' });
    await stack.waitFor('running', async () => (await state()) === 'running', 30_000);
    runningSince = Date.now();
  }, 180_000);
  const clean: (() => void)[] = [];
  afterAll(async () => {
    for (const c of clean) c();
    await stack?.stop();
  });

  const metrics = (token: string, query: Record<string, string | number>) => stack.http().get('/api/v1/metrics').query(query).set('Authorization', as(token));

  it("answers a running server's history after 20 s with at least 3 points of memory > 0", async () => {
    await sleep(Math.max(0, runningSince + 20_000 - Date.now()));

    const res = await metrics(alice.token, { target: `server:${serverId}`, from: new Date(runningSince - 60_000).toISOString(), to: Date.now(), step: '5s' });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ target: `server:${serverId}`, step: 5, resolution: 'raw' });
    const withMemory = res.body.points.filter((p: { memory_bytes: number | null }) => (p.memory_bytes ?? 0) > 0);
    expect(withMemory.length).toBeGreaterThanOrEqual(3);
    expect(Object.keys(res.body.points[0]).sort()).toEqual(['cpu_percent', 'disk_bytes', 'memory_bytes', 'net_rx', 'net_tx', 't']);
  }, 60_000);

  it('answers 7-day queries from the rollups (1-minute for a 15 min step, 1-hour by default), and a node target with nodes.read', async () => {
    const week = await stack.waitFor('a sample in the 1-minute rollup', async () => {
      const res = await metrics(admin, { target: `server:${serverId}`, from: Date.now() - 7 * 24 * 3600_000, step: '15m' });
      return res.status !== 200 || res.body.points.length > 0 ? res : undefined;
    });
    const weekByDefault = await metrics(admin, { target: `server:${serverId}`, from: Date.now() - 7 * 24 * 3600_000 });
    const node = await metrics(bob.token, { target: `node:${nodeId}`, from: Date.now() - 600_000, step: 60 });

    expect(week.status).toBe(200);
    expect(week.body.resolution).toBe('1m');
    expect(week.body.points.length).toBeGreaterThanOrEqual(1);
    expect(week.body.points.length).toBeLessThanOrEqual(1000);
    expect(weekByDefault.body).toMatchObject({ step: 3600, resolution: '1h' });
    expect(weekByDefault.body.points.length).toBeGreaterThanOrEqual(1);
    const fleet = await metrics(bob.token, { target: 'fleet', from: Date.now() - 600_000, step: 60 });
    expect([fleet.status, fleet.body.target]).toEqual([200, 'fleet']);
    expect(fleet.body.points.some((p: { memory_bytes: number; memory_limit_bytes: number }) => p.memory_bytes > 0 && p.memory_limit_bytes >= p.memory_bytes)).toBe(true);
    expect(node.status).toBe(200);
    expect(node.body.points.some((p: { net_rx: number | null; memory_bytes: number }) => p.net_rx !== null && p.memory_bytes > 0)).toBe(true);
  });

  it('answers 422 naming the field for a bad target, range or step', async () => {
    const target = `node:${nodeId}`;
    const cases = [
      [{ target: 'vm:1' }, 'target'],
      [{ target, from: 2000, to: 1000 }, 'to'],
      [{ target, from: 'yesterday' }, 'from'],
      [{ target, from: Date.now() - 24 * 3600_000, step: 1 }, 'step'],
      [{ target, step: 'soon' }, 'step'],
    ] as const;

    for (const [query, field] of cases) {
      const res = await metrics(admin, query);
      expect([JSON.stringify(query), res.status, res.body.code]).toEqual([JSON.stringify(query), 422, 'VALIDATION_FAILED']);
      expect(res.body.details.fields.map((f: { path: string }) => f.path)).toContain(field);
    }
  });

  it('lets only those who may see a target read it: 401, 403 without nodes.read, 404 for a hidden server', async () => {
    const outsider = await userWith('carol', ['templates.read']);

    const anonymous = await stack.http().get('/api/v1/metrics').query({ target: `node:${nodeId}` });
    const noNodes = await metrics(outsider.token, { target: `node:${nodeId}` });
    const noFleet = await metrics(outsider.token, { target: 'fleet' });
    const hidden = await metrics(bob.token, { target: `server:${serverId}` });
    const unknown = await metrics(admin, { target: 'server:6f1c2b1e-0000-4000-8000-000000000000' });
    const owner = await metrics(alice.token, { target: `server:${serverId}` });

    expect([anonymous.status, noNodes.status, hidden.status, unknown.status, owner.status]).toEqual([401, 403, 404, 404, 200]);
    expect(noNodes.body).toMatchObject({ code: 'FORBIDDEN', details: { missing: ['nodes.read'] } });
    expect(noFleet.status).toBe(403);
  });

  it('PATCH /alerts/rules/:id changes only the fields sent; 422 for a bad body, 403 without alerts.manage, 404 for an unknown rule or a target the caller cannot see', async () => {
    const http = stack.http;
    const manager = await userWith('dave', ['alerts.manage', 'metrics.read', 'nodes.read']);
    const blind = await userWith('erin', ['alerts.manage', 'metrics.read']);
    const created = await http().post('/api/v1/alerts/rules').set('Authorization', as(admin)).send({ name: 'patchable', target: `node:${nodeId}`, field: 'memory_bytes', comparator: '>', threshold: 1e12, for_s: 30 });
    expect(created.status).toBe(201);
    const ruleId = created.body.id as string;
    const patch = (token: string, body: object, id = ruleId) => http().patch(`/api/v1/alerts/rules/${id}`).set('Authorization', as(token)).send(body);

    const changed = await patch(admin, { threshold: 2e12 });
    const renamed = await patch(manager.token, { name: 'patched' });
    const badBodies = await Promise.all([patch(admin, { threshold: 'high' }), patch(admin, { comparator: '=>' }), patch(admin, {}), patch(admin, { for_s: -1 })]);
    const noManage = await patch(bob.token, { threshold: 1 });
    const unknown = await patch(admin, { threshold: 1 }, '6f1c2b1e-0000-4000-8000-000000000000');
    const hiddenServer = await patch(manager.token, { target: `server:${serverId}` });
    // Without nodes.read the node's rule is hidden: 404, as for a rule that does not exist.
    const nodeWithoutRead = await patch(blind.token, { name: 'hijacked' });
    const after = await http().get(`/api/v1/alerts/rules/${ruleId}`).set('Authorization', as(admin));
    await http().delete(`/api/v1/alerts/rules/${ruleId}`).set('Authorization', as(admin));

    expect([changed.status, changed.body]).toEqual([200, expect.objectContaining({ id: ruleId, threshold: 2e12, for_s: 30, comparator: '>', field: 'memory_bytes', version: created.body.version + 1 })]);
    expect([renamed.status, renamed.body]).toEqual([200, expect.objectContaining({ name: 'patched', threshold: 2e12, for_s: 30 })]);
    expect(badBodies.map((r) => [r.status, r.body.code])).toEqual(Array(4).fill([422, 'VALIDATION_FAILED']));
    expect(badBodies[0].body.details.fields.map((f: { path: string }) => f.path)).toEqual(['threshold']);
    expect([noManage.status, noManage.body.code]).toEqual([403, 'FORBIDDEN']);
    expect([unknown.status, hiddenServer.status, nodeWithoutRead.status]).toEqual([404, 404, 404]);
    expect(after.body).toMatchObject({ name: 'patched', target: `node:${nodeId}`, threshold: 2e12, for_s: 30 });
  });

  it('keeps GET /nodes/:id/metrics and /metrics/history in their shapes', async () => {
    const latest = await stack.http().get(`/api/v1/nodes/${nodeId}/metrics`).set('Authorization', as(admin));
    const history = await stack.http().get(`/api/v1/nodes/${nodeId}/metrics/history?range=6h`).set('Authorization', as(admin));
    const byBob = await stack.http().get(`/api/v1/nodes/${nodeId}/metrics`).set('Authorization', as(bob.token));

    expect(latest.status).toBe(200);
    expect(latest.body).toMatchObject({ node_id: nodeId, memory_usage: expect.any(Number), memory_limit: expect.any(Number), cpu_percent: expect.any(Number), load: expect.any(Array) });
    expect(latest.body.servers.map((s: { server_id: string }) => s.server_id)).toEqual([serverId]);
    expect(latest.body.servers[0].memory_bytes).toBeGreaterThan(0);
    expect(byBob.body.servers).toEqual([]);
    expect(history.status).toBe(200);
    expect(history.body).toMatchObject({ node_id: nodeId, range: '6h', bucket_s: 90 });
    expect(history.body.items.length).toBeGreaterThanOrEqual(1);
    expect(history.body.items[0]).toMatchObject({ node_id: nodeId, memory_usage: expect.any(Number), at: expect.any(String) });
  });

  it('exposes the fleet in OpenMetrics to a bearer holding metrics.read only', async () => {
    const key = await stack.http().post('/api/v1/api-keys').set('Authorization', as(admin)).send({ name: 'fleet-reader', permissions: ['metrics.read'] });
    const fleet = await stack.waitFor('the server in the exposition', async () => {
      const res = await stack.http().get('/api/v1/metrics/fleet').set('Authorization', as(key.body.key));
      return res.status !== 200 || res.text.includes(serverId) ? res : undefined;
    });
    const anonymous = await stack.http().get('/api/v1/metrics/fleet');
    const withoutRead = await stack.http().get('/api/v1/metrics/fleet').set('Authorization', as(bob.token));

    expect(fleet.status).toBe(200);
    expect(fleet.headers['content-type']).toContain('application/openmetrics-text');
    expect(fleet.text).toMatch(new RegExp(`^encedeus_server_memory_bytes\\{node_id="${nodeId}",server_id="${serverId}",server_name="sampled",template="sleeper"\\} [1-9]`, 'm'));
    expect(fleet.text).toMatch(new RegExp(`^encedeus_node_cpu_percent\\{node_id="${nodeId}"\\} `, 'm'));
    expect(fleet.text.endsWith('# EOF\n')).toBe(true);
    expect([anonymous.status, withoutRead.status]).toEqual([401, 403]);
  });

  withPrometheus('is scraped by a real Prometheus with a bearer token: series labelled with the running server', async () => {
    const key = await stack.http().post('/api/v1/api-keys').set('Authorization', as(admin)).send({ name: 'prometheus-fleet', permissions: ['metrics.read'] });
    expect(key.status).toBe(201);
    const dir = mkdtempSync(join(tmpdir(), 'encedeus-prometheus-fleet-'));
    clean.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'fleet.key'), key.body.key, { mode: 0o600 });
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, scrape_timeout: 1s }',
        'scrape_configs:',
        '  - job_name: fleet',
        '    metrics_path: /api/v1/metrics/fleet',
        `    authorization: { type: Bearer, credentials_file: ${join(dir, 'fleet.key')} }`,
        `    static_configs: [{ targets: ['${new URL(stack.gateway.url).host}'] }]`,
      ].join('\n'),
    );
    const port = await freePort();
    const prometheus = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    clean.push(() => prometheus.kill('SIGKILL'));
    const query = async (q: string) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => undefined);
      if (!res?.ok) return [];
      return ((await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
    };

    const [series] = await stack.waitFor('the server scraped', async () => {
      const result = await query(`encedeus_server_memory_bytes{server_id="${serverId}"}`);
      return result.length > 0 ? result : undefined;
    }, 40_000);

    expect(series.metric).toMatchObject({ job: 'fleet', node_id: nodeId, server_id: serverId, server_name: 'sampled', template: 'sleeper' });
    expect(Number(series.value[1])).toBeGreaterThan(0);
    expect((await query('up{job="fleet"}'))[0].value[1]).toBe('1');
  }, 60_000);

  it('raises an alert rule on a CPU-burning server and resolves it when the burning stops (alert.raised / alert.resolved)', async () => {
    const http = stack.http;
    const events: { subject: string; type: string; data: { rule_id: string; value: number | null } }[] = [];
    const nc = await stack.env.connect('admin');
    const codec = JSONCodec<{ type: string; data: { rule_id: string; value: number | null } }>();
    const sub = nc.subscribe('evt.alert.>', { callback: (_e, m) => events.push({ ...codec.decode(m.data), subject: m.subject }) });
    clean.push(() => sub.unsubscribe());
    // The shell burns a core for 20 s (builtins only, in the server's own process), then sleeps.
    const burn = 'echo "Server ready"; end=$(($(date +%s)+20)); while [ $(date +%s) -lt $end ]; do i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; done; exec sleep 3600';
    const template = await http().post('/api/v1/templates').set('Authorization', as(admin)).send({ name: 'burner', driver: 'process', startup: burn, ready_pattern: 'Server ready', stop: { signal: 'SIGKILL', timeout_s: 5 }, limits: { memory_mb: 64, cpu_percent: 100, disk_mb: 100 } });
    const created = await http().post('/api/v1/servers').set('Authorization', as(admin)).send({ name: 'burner', template_id: template.body.id, node_id: nodeId, limits: { memory_mb: 64, cpu_percent: 100, disk_mb: 100 } });
    const burner = created.body.id as string;
    const state = async () => (await http().get(`/api/v1/servers/${burner}`).set('Authorization', as(admin))).body.state as string;
    await stack.waitFor('burner installed', async () => (await state()) === 'offline', 60_000);
    const noManage = await http().post('/api/v1/alerts/rules').set('Authorization', as(bob.token)).send({ name: 'x', target: `server:${burner}`, field: 'cpu_percent', comparator: '>', threshold: 10, for_s: 2 });
    const bad = await http().post('/api/v1/alerts/rules').set('Authorization', as(admin)).send({ name: 'x', target: `server:${burner}`, field: 'temperature', comparator: '=>', threshold: 'hot' });
    const rule = await http().post('/api/v1/alerts/rules').set('Authorization', as(admin)).send({ name: 'burner hot', target: `server:${burner}`, field: 'cpu_percent', comparator: '>', threshold: 10, for_s: 2 });
    expect([noManage.status, bad.status, rule.status]).toEqual([403, 422, 201]);
    expect(bad.body.details.fields.map((f: { path: string }) => f.path).sort()).toEqual(['comparator', 'field', 'threshold']);
    expect(rule.body).toMatchObject({ target: `server:${burner}`, firing: false, for_s: 2 });
    const ruleId = rule.body.id as string;

    await http().post(`/api/v1/servers/${burner}/power`).set('Authorization', as(admin)).send({ action: 'start' });
    await stack.waitFor('the alert raised', async () => events.some((e) => e.type === 'alert.raised' && e.data.rule_id === ruleId), 30_000);
    // As for resolved below: the event is on the bus before the rules' read model has applied it.
    const firing = await stack.waitFor('the rule listed as firing', async () => {
      const res = await http().get('/api/v1/alerts/rules?firing=true').set('Authorization', as(admin));
      return res.body.items?.some((r: { id: string }) => r.id === ruleId) ? res : undefined;
    }, 10_000);
    await stack.waitFor('the alert resolved', async () => events.some((e) => e.type === 'alert.resolved' && e.data.rule_id === ruleId), 45_000);
    // The event is on the bus before the rules' read model has applied it: wait for the rule to show it.
    const after = await stack.waitFor('the rule shows resolved', async () => {
      const res = await http().get(`/api/v1/alerts/rules/${ruleId}`).set('Authorization', as(admin));
      return res.body.firing === false && res.body.raised_at ? res : undefined;
    }, 15_000);
    const removed = await http().delete(`/api/v1/alerts/rules/${ruleId}`).set('Authorization', as(admin));
    const gone = await http().get(`/api/v1/alerts/rules/${ruleId}`).set('Authorization', as(admin));

    expect(events.find((e) => e.type === 'alert.raised')!.data.value).toBeGreaterThan(10);
    expect(firing.body.items.map((r: { id: string }) => r.id)).toContain(ruleId);
    await stack.waitFor('the rule deleted', async () => events.some((e) => e.type === 'alert.rule_deleted'), 5000);
    expect(events.filter((e) => e.subject === `evt.alert.${ruleId}`).map((e) => e.type)).toEqual(['alert.rule_created', 'alert.raised', 'alert.resolved', 'alert.rule_deleted']);
    expect(after.body).toMatchObject({ firing: false, raised_at: expect.any(String) });
    expect([removed.status, gone.status]).toEqual([204, 404]);
  }, 120_000);
});
