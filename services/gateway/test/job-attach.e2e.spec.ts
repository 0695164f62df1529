import { randomUUID } from 'node:crypto';
import { connect, credsAuthenticator } from 'nats';
import { Subjects } from '@encedeus/contracts';
import { inboxPrefixFromCreds } from '@encedeus/messaging';
import { startStack, type Stack } from './stack-harness';
import { socketAs, type Received } from './socket-client';

// Prints line-1 … line-8, one every 0.6 s (about 5 s in all).
const SLOW_PRINTER = 'for i in 1 2 3 4 5 6 7 8; do echo "line-$i"; sleep 0.6; done; echo "done" >&2';
const ALL_LINES = ['line-1', 'line-2', 'line-3', 'line-4', 'line-5', 'line-6', 'line-7', 'line-8'];

/**
 * Issue 14, bug 5: a running job's page re-attaches to its output (`jobs.attach`) after a reload —
 * the output so far, then live lines, then the result — and only for whoever may see the job. Real
 * stack: NATS, Postgres, the nodes service and a real agent running the job.
 */
describe('jobs.attach (e2e)', () => {
  let stack: Stack;
  let admin: string;
  let nodeId: string;
  const sockets: { close(): unknown }[] = [];
  const as = (token: string) => `Bearer ${token}`;

  beforeAll(async () => {
    stack = await startStack({ files: false, metrics: false });
    admin = await stack.adminToken();
    const http = stack.http;
    const node = await http().post('/api/v1/nodes').set('Authorization', as(admin)).send({ name: 'attach-node', memory_mb: 4096, cpu_percent: 200, storage_size: '10G' });
    nodeId = node.body.id;
    stack.startAgent(node.body.enrollment.token);
    await stack.waitFor('node online', async () => (await http().get(`/api/v1/nodes/${nodeId}`).set('Authorization', as(admin))).body.state === 'online', 60_000);
  }, 150_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    await stack?.stop();
  });

  async function userWith(name: string, permissions: string[]): Promise<{ id: string; token: string }> {
    const http = stack.http;
    const role = await http().post('/api/v1/roles').set('Authorization', as(admin)).send({ name: `${name}-role`, permissions });
    expect(role.status).toBe(201);
    const user = await http().post('/api/v1/users').set('Authorization', as(admin)).send({ name, email: `${name}@attach.test`, password: `${name} password 1`, role_name: `${name}-role` });
    expect(user.status).toBe(201);
    const login = await http().post('/api/v1/auth/login').send({ email: `${name}@attach.test`, password: `${name} password 1` });
    expect(login.status).toBe(200);
    return { id: user.body.id, token: login.body.accessToken };
  }

  async function socket(token: string) {
    const s = await socketAs(stack.gateway.url, token);
    sockets.push(s.socket);
    return s;
  }

  /** Publishes `line` for `jobId` under another node's output subject, as that node's agent could. */
  async function forgeLine(jobId: string, line: string): Promise<void> {
    const creds = await stack.env.nats.creds('admin');
    const nc = await connect({ servers: stack.env.nats.url, inboxPrefix: inboxPrefixFromCreds(creds), authenticator: credsAuthenticator(new TextEncoder().encode(creds)) });
    sockets.push(nc);
    nc.publish(Subjects.jobOutput(randomUUID(), jobId), JSON.stringify({ line, stream: 'stdout' }));
    await nc.flush();
  }

  const linesOf = (received: Received[], id: string) => received.filter((r) => r.event === 'line' && r.data.id === id).map((r) => r.data.line as string);
  const resultOf = (received: Received[], id: string) => received.find((r) => r.event === 'result' && r.data.id === id)?.data;
  const waitResult = (received: Received[], id: string, timeoutMs = 20_000) => stack.waitFor(`result of ${id}`, async () => resultOf(received, id), timeoutMs);

  it('a second socket attached mid-run (the first one gone, as after a reload) gets the earlier and the later lines once, then the result; others are refused', async () => {
    const runner = await userWith('runner', ['jobs.run']);
    const peeker = await userWith('peeker', ['jobs.run']);
    const reader = await userWith('reader', ['jobs.read']);

    // The job editor's socket starts the job, sees a few lines, and goes away (a reload).
    const first = await socket(runner.token);
    first.socket.emit('call', { id: 'run', call: 'jobs.run', params: { runtime: 'bash', code: SLOW_PRINTER, timeout_ms: 30_000, node_id: nodeId } });
    await stack.waitFor('line-2 on the first socket', async () => linesOf(first.received, 'run').includes('line-2'), 20_000);
    first.socket.close();
    const running = await stack.http().get('/api/v1/jobs?status=running').set('Authorization', as(runner.token));
    expect(running.body.items).toHaveLength(1);
    const jobId = running.body.items[0].id as string;

    // The job page after the reload, the other user's socket and a jobs.read holder's, all mid-run.
    const page = await socket(runner.token);
    const intruder = await socket(peeker.token);
    const auditor = await socket(reader.token);
    page.socket.emit('call', { id: 'attach', call: 'jobs.attach', params: { job_id: jobId } });
    intruder.socket.emit('call', { id: 'sneak', call: 'jobs.attach', params: { job_id: jobId } });
    auditor.socket.emit('call', { id: 'audit', call: 'jobs.attach', params: { job_id: jobId } });

    const refused = await waitResult(intruder.received, 'sneak');
    // Attached while the job still runs: the earlier lines came at once, the job has not printed everything.
    await stack.waitFor('replayed lines', async () => linesOf(page.received, 'attach').includes('line-2'), 10_000);
    expect(linesOf(page.received, 'attach')).not.toContain('line-8');
    // A line for this job under another node's subject (what another node's agent could publish) is not its output.
    await forgeLine(jobId, 'forged');

    const result = await waitResult(page.received, 'attach');
    const audited = await waitResult(auditor.received, 'audit');

    expect(refused).toMatchObject({ id: 'sneak', success: false, code: 'NOT_FOUND' });
    expect(linesOf(intruder.received, 'sneak')).toEqual([]);
    expect(linesOf(page.received, 'attach')).toEqual(ALL_LINES.concat('done'));
    expect(result).toMatchObject({ success: true, data: { job_id: jobId, status: 'succeeded', exit_code: 0, stdout: `${ALL_LINES.join('\n')}\n`, stderr: 'done\n' } });
    expect(linesOf(auditor.received, 'audit')).toEqual(ALL_LINES.concat('done'));
    expect(audited).toMatchObject({ success: true, data: { job_id: jobId } });
    // The live lines of the page arrived before its one result.
    const events = page.received.filter((r) => r.data?.id === 'attach').map((r) => r.event);
    expect(events.indexOf('result')).toBe(events.length - 1);
    expect(events.filter((e) => e === 'result')).toHaveLength(1);

    // Attaching to a job that has ended answers its result at once; the other user is still refused.
    const late = await socket(runner.token);
    late.socket.emit('call', { id: 'late', call: 'jobs.attach', params: { job_id: jobId } });
    intruder.socket.emit('call', { id: 'sneak-2', call: 'jobs.attach', params: { job_id: jobId } });
    expect(await waitResult(late.received, 'late', 5_000)).toMatchObject({ success: true, data: { stdout: `${ALL_LINES.join('\n')}\n` } });
    expect(await waitResult(intruder.received, 'sneak-2')).toMatchObject({ success: false, code: 'NOT_FOUND' });
  }, 90_000);

  it('jobs.run streams only lines published under the job\'s own node: another node\'s line for the job is not its output', async () => {
    const victim = await userWith('victim', ['jobs.run']);
    const { received, socket: s } = await socket(victim.token);
    s.emit('call', { id: 'run', call: 'jobs.run', params: { runtime: 'bash', code: SLOW_PRINTER, timeout_ms: 30_000, node_id: nodeId } });
    await stack.waitFor('line-2 of jobs.run', async () => linesOf(received, 'run').includes('line-2'), 20_000);
    const running = await stack.http().get('/api/v1/jobs?status=running').set('Authorization', as(victim.token));
    expect(running.body.items).toHaveLength(1);
    const jobId = running.body.items[0].id as string;

    // Mid-run, while jobs.run follows the job's output: a line for it under another node's subject.
    await forgeLine(jobId, 'forged-into-run');
    const result = await waitResult(received, 'run');

    expect(result).toMatchObject({ success: true, data: { job_id: jobId, status: 'succeeded', stdout: `${ALL_LINES.join('\n')}\n`, stderr: 'done\n' } });
    expect(linesOf(received, 'run')).toEqual(ALL_LINES.concat('done'));
  }, 60_000);

  it('validates the job id and answers NOT_FOUND for an unknown job, without a 500', async () => {
    const { received, socket: s } = await socket(admin);
    s.emit('call', { id: 'bad', call: 'jobs.attach', params: { job_id: 'not-a-uuid' } });
    s.emit('call', { id: 'missing', call: 'jobs.attach', params: {} });
    s.emit('call', { id: 'unknown', call: 'jobs.attach', params: { job_id: randomUUID() } });

    expect(await waitResult(received, 'bad')).toMatchObject({ success: false, code: 'VALIDATION_FAILED', message: expect.stringContaining('job_id must be a job id (a UUID)') });
    expect(await waitResult(received, 'missing')).toMatchObject({ success: false, code: 'VALIDATION_FAILED', message: expect.stringContaining('job_id') });
    expect(await waitResult(received, 'unknown')).toMatchObject({ success: false, code: 'NOT_FOUND' });
  }, 30_000);
});
