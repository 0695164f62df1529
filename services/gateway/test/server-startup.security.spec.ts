import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { inboxPrefixFromCreds } from '@encedeus/messaging';
import { startStack, type Stack } from './stack-harness';
import { stackUsers } from './stack-users';

const HOSTILE = 'x$(id -u)`hostname`;echo INJECTED';

/**
 * A server's own startup line (issue 14, `PATCH /servers/:id {startup}`), on the real stack with a
 * real agent: `servers.manage` may set it, the owner only where the template sets `startup_editable`,
 * a sub-user never; it is checked and rendered like the template's, so a variable value is still
 * never parsed by the shell; it runs at the next start.
 */
describe('server startup override (security)', () => {
  let stack: Stack;
  let admin: string;
  let owner: string;
  let sub: string;
  let lockedTemplate: string;
  let openTemplate: string;
  let nodeId: string;
  let nc: NatsConnection;
  const as = (token: string) => `Bearer ${token}`;
  const users = stackUsers(() => stack, () => as(admin), 'startup.test');

  const template = async (name: string, startupEditable: boolean) => {
    const res = await stack
      .http()
      .post('/api/v1/templates')
      .set('Authorization', as(admin))
      .send({
        name,
        driver: 'process',
        startup: 'echo "template says {{GREETING}}"',
        ...(startupEditable ? { startup_editable: true } : {}),
        variables: [{ name: 'GREETING', default: 'hello', rules: 'required|string|max:64' }],
        limits: { memory_mb: 64, cpu_percent: 50, disk_mb: 64 },
      });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };

  beforeAll(async () => {
    stack = await startStack();
    admin = await stack.adminToken();
    const http = stack.http;
    lockedTemplate = await template('startup-locked', false);
    openTemplate = await template('startup-open', true);
    const node = await http().post('/api/v1/nodes').set('Authorization', as(admin)).send({ name: 'startup-node', memory_mb: 4096, cpu_percent: 400, storage_size: '10G' });
    nodeId = node.body.id;
    stack.startAgent(node.body.enrollment.token);
    await stack.waitFor('node online', async () => (await http().get(`/api/v1/nodes/${nodeId}`).set('Authorization', as(admin))).body.state === 'online', 60_000);
    const role = await http().post('/api/v1/roles').set('Authorization', as(admin)).send({ name: 'startup-owner', permissions: ['servers.create', 'servers.power', 'servers.console', 'templates.read'] });
    expect(role.status).toBe(201);
    await users.createUser('olga', 'startup-owner');
    await users.createUser('sami', 'startup-owner');
    owner = (await users.login('olga')).accessToken;
    sub = (await users.login('sami')).accessToken;
    const creds = await stack.env.nats.creds('admin');
    nc = await connect({ servers: stack.env.nats.url, inboxPrefix: inboxPrefixFromCreds(creds), authenticator: credsAuthenticator(new TextEncoder().encode(creds)) });
  }, 150_000);

  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
  });

  const create = async (templateId: string, variables: Record<string, string> = {}) => {
    const res = await stack.http().post('/api/v1/servers').set('Authorization', as(owner)).send({ name: `s-${Date.now()}`, template_id: templateId, node_id: nodeId, variables });
    expect(res.status).toBe(201);
    return res.body as { id: string; startup: string; startup_editable: boolean };
  };
  const patch = (token: string, id: string, body: object) => stack.http().patch(`/api/v1/servers/${id}`).set('Authorization', as(token)).send(body);

  it('refuses the owner where the template does not set startup_editable, and lets servers.manage', async () => {
    const server = await create(lockedTemplate);

    const byOwner = await patch(owner, server.id, { startup: 'cat /etc/shadow' });
    const byAdmin = await patch(admin, server.id, { startup: 'echo "admin says {{GREETING}}"' });
    const read = await stack.http().get(`/api/v1/servers/${server.id}`).set('Authorization', as(owner));

    expect(server).toMatchObject({ startup: 'echo "template says {{GREETING}}"', startup_editable: false });
    expect(byOwner.status).toBe(403);
    expect(byOwner.body).toMatchObject({ code: 'FORBIDDEN', error: expect.stringContaining('startup') });
    expect(byAdmin.status).toBe(200);
    expect(byAdmin.body.startup).toBe('echo "admin says {{GREETING}}"');
    expect(read.body.startup).toBe('echo "admin says {{GREETING}}"');
  });

  it('lets the owner change it where the template sets startup_editable, and never a sub-user', async () => {
    const server = await create(openTemplate);
    const shared = await stack.http().post(`/api/v1/servers/${server.id}/users`).set('Authorization', as(owner)).send({ email: 'sami@startup.test', permissions: ['power', 'console'] });
    expect(shared.status).toBe(201);

    const byOwner = await patch(owner, server.id, { startup: 'echo "owner says {{GREETING}}"' });
    const bySub = await patch(sub, server.id, { startup: 'echo "sub-user says hi"' });
    const reset = await patch(owner, server.id, { startup: null });

    expect(server.startup_editable).toBe(true);
    expect(byOwner.status).toBe(200);
    expect(byOwner.body.startup).toBe('echo "owner says {{GREETING}}"');
    expect(bySub.status).toBe(403);
    expect(reset.status).toBe(200);
    expect(reset.body.startup).toBe('echo "template says {{GREETING}}"');
  });

  it('checks a startup line like the template\'s: empty, too long or with a NUL byte is 422', async () => {
    const server = await create(openTemplate);

    const answers = await Promise.all(['', 'x'.repeat(8193), 'echo a\u0000b'].map((startup) => patch(admin, server.id, { startup })));

    expect(answers.map((r) => r.status)).toEqual([422, 422, 422]);
  });

  it('renders the override like the template\'s at the next start: a hostile value stays literal', async () => {
    const server = await create(openTemplate, { GREETING: HOSTILE });
    const lines: string[] = [];
    nc.subscribe(`console.${server.id}.out`, { callback: (_e, m) => lines.push((JSON.parse(new TextDecoder().decode(m.data)) as { line: string }).line) });
    await nc.flush();
    const state = async () => (await stack.http().get(`/api/v1/servers/${server.id}`).set('Authorization', as(owner))).body.state as string;
    await stack.waitFor('installed', async () => (await state()) === 'offline', 60_000);

    const changed = await patch(owner, server.id, { startup: 'echo "override says {{GREETING}}"; echo done' });
    const started = await stack.http().post(`/api/v1/servers/${server.id}/power`).set('Authorization', as(owner)).send({ action: 'start' });
    await stack.waitFor('last line', async () => lines.includes('done'), 30_000);

    expect(changed.status).toBe(200);
    expect(started.status).toBe(200);
    expect(lines).toContain(`override says ${HOSTILE}`);
    expect(lines).not.toContain('INJECTED');
    expect(lines.some((l) => l.startsWith('template says'))).toBe(false);
  });
});
