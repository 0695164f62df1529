import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { inboxPrefixFromCreds } from '@encedeus/messaging';
import { startStack, type Stack } from './stack-harness';

const HOSTILE = 'x$(id -u)`hostname`;echo INJECTED';

/**
 * Issue 8 item 5 on the real stack with a real agent: a user-chosen variable value was spliced into
 * the startup line as shell text and ran as root; a variable the template locks could be changed by owners.
 */
describe('template variables (security)', () => {
  let stack: Stack;
  let admin: string;
  let owner: string;
  let templateId: string;
  let nodeId: string;
  let nc: NatsConnection;
  const as = (token: string) => `Bearer ${token}`;

  beforeAll(async () => {
    stack = await startStack();
    admin = await stack.adminToken();
    const http = stack.http;
    const template = await http()
      .post('/api/v1/templates')
      .set('Authorization', as(admin))
      .send({
        name: 'greeter',
        driver: 'process',
        startup: 'echo "greeting is {{GREETING}}"; echo "jar is {{JAR}}"',
        variables: [
          { name: 'GREETING', default: 'hello', rules: 'required|string|max:64' },
          { name: 'JAR', default: 'server.jar', rules: 'required|string|max:64', user_editable: false },
        ],
        limits: { memory_mb: 64, cpu_percent: 50, disk_mb: 64 },
      });
    expect(template.status).toBe(201);
    templateId = template.body.id;
    const node = await http().post('/api/v1/nodes').set('Authorization', as(admin)).send({ name: 'vars-node', memory_mb: 4096, cpu_percent: 400, storage_size: '10G' });
    nodeId = node.body.id;
    stack.startAgent(node.body.enrollment.token);
    await stack.waitFor('node online', async () => (await http().get(`/api/v1/nodes/${nodeId}`).set('Authorization', as(admin))).body.state === 'online', 60_000);
    const role = await http().post('/api/v1/roles').set('Authorization', as(admin)).send({ name: 'owner-role', permissions: ['servers.create', 'servers.power', 'servers.console', 'templates.read'] });
    expect(role.status).toBe(201);
    const user = await http().post('/api/v1/users').set('Authorization', as(admin)).send({ name: 'olga', email: 'olga@vars.test', password: 'olga password 1', role_name: 'owner-role' });
    expect(user.status).toBe(201);
    owner = (await http().post('/api/v1/auth/login').send({ email: 'olga@vars.test', password: 'olga password 1' })).body.accessToken;
    const creds = await stack.env.nats.creds('admin');
    nc = await connect({ servers: stack.env.nats.url, inboxPrefix: inboxPrefixFromCreds(creds), authenticator: credsAuthenticator(new TextEncoder().encode(creds)) });
  }, 150_000);

  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
  });

  const createAs = (token: string, variables: Record<string, string>) =>
    stack.http().post('/api/v1/servers').set('Authorization', as(token)).send({ name: `s-${Date.now()}`, template_id: templateId, node_id: nodeId, variables });

  it('refuses an owner who sets a variable the template locks, on create and on update', async () => {
    const created = await createAs(owner, { JAR: '/etc/passwd' });
    const server = await createAs(owner, { GREETING: 'hi' });
    const changed = await stack.http().patch(`/api/v1/servers/${server.body.id}`).set('Authorization', as(owner)).send({ variables: { JAR: '/etc/passwd' } });
    const unchanged = await stack.http().patch(`/api/v1/servers/${server.body.id}`).set('Authorization', as(owner)).send({ variables: { JAR: 'server.jar', GREETING: 'hey' } });

    expect(created.status).toBe(403);
    expect(created.body).toMatchObject({ code: 'FORBIDDEN', error: expect.stringContaining('JAR') });
    expect(server.status).toBe(201);
    expect(changed.status).toBe(403);
    expect(unchanged.status).toBe(200);
  });

  it('lets a holder of servers.manage set a locked variable', async () => {
    const created = await createAs(admin, { JAR: 'custom.jar' });

    expect(created.status).toBe(201);
  });

  it('prints a hostile variable value literally: the shell never parses it', async () => {
    const created = await createAs(owner, { GREETING: HOSTILE });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const lines: string[] = [];
    nc.subscribe(`console.${id}.out`, { callback: (_e, m) => lines.push((JSON.parse(new TextDecoder().decode(m.data)) as { line: string }).line) });
    await nc.flush();
    const state = async () => (await stack.http().get(`/api/v1/servers/${id}`).set('Authorization', as(owner))).body.state as string;
    await stack.waitFor('installed', async () => (await state()) === 'offline', 60_000);

    const started = await stack.http().post(`/api/v1/servers/${id}/power`).set('Authorization', as(owner)).send({ action: 'start' });
    // "jar is" is printed after the greeting: once it is here, the greeting line is too.
    await stack.waitFor('second line', async () => lines.some((l) => l.startsWith('jar is')), 30_000);

    expect(started.status).toBe(200);
    expect(lines).toContain(`greeting is ${HOSTILE}`);
    expect(lines).not.toContain('INJECTED');
    expect(lines).toContain('jar is server.jar');
  });
});
