import { UsersVerbs } from '@encedeus/contracts';
import { CommandClient, EventStore } from '@encedeus/messaging';
import { ReadModel } from '../src/common/read-model';
import { startIdentity, type IdentityHarness } from './identity-harness';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

describe('users, roles and API keys through the gateway', () => {
  let h: IdentityHarness;
  let admin: string;
  const as = (token: string) => `Bearer ${token}`;

  beforeAll(async () => {
    h = await startIdentity();
    admin = as(await h.adminToken());
  });
  afterAll(() => h?.stop());

  it('applies a role change and a disabled flag on the very next request', async () => {
    const role = await h.http().post('/api/v1/roles').set('Authorization', admin).send({ name: 'operators', permissions: ['users.read'] });
    expect(role.status).toBe(201);
    const bob = await h.http().post('/api/v1/users').set('Authorization', admin).send({ name: 'bob', email: 'bob@example.test', password: 'bob-password', role_name: 'operators' });
    expect(bob.status).toBe(201);
    expect(bob.headers.etag).toBe('"1"');
    const token = as((await h.login('bob', 'bob-password')).accessToken);
    // A role bob can grant once he manages users (the default role holds more than he does).
    await h.http().post('/api/v1/roles').set('Authorization', admin).send({ name: 'guests', permissions: [] });
    const carol = { name: 'carol', email: 'carol@example.test', password: 'carol-password', role_name: 'guests' };

    expect((await h.http().post('/api/v1/users').set('Authorization', token).send(carol)).status).toBe(403);
    const grant = await h.http().patch(`/api/v1/roles/${role.body.id}`).set('Authorization', admin).send({ permissions: ['users.read', 'users.manage'] });
    expect(grant.status).toBe(200);
    expect((await h.http().post('/api/v1/users').set('Authorization', token).send(carol)).status).toBe(201);

    const disable = await h.http().patch(`/api/v1/users/${bob.body.id}`).set('Authorization', admin).send({ disabled: true });
    expect(disable.status).toBe(200);
    expect((await h.http().get('/api/v1/auth/me').set('Authorization', token)).status).toBe(401);
  });

  it('creates a user and a role once when the same command with one Idempotency-Key comes again (the gateway released the key after a 503 whose first attempt had committed)', async () => {
    const client = new CommandClient(await h.env.connect('gateway'), 10_000);
    const meta = (key: string) => ({ actor: 'user:11111111-1111-4111-8111-111111111111', idempotencyKey: key });
    const user = { name: 'retried', email: 'retried@example.test', password: 'retried-password' };
    const role = { name: 'retried-role', permissions: ['users.read'] };

    const users = [await client.send<{ id: string }>('users', UsersVerbs.create, user, meta('user-key-1')), await client.send<{ id: string }>('users', UsersVerbs.create, user, meta('user-key-1'))];
    const roles = [await client.send<{ id: string }>('users', UsersVerbs.roleCreate, role, meta('role-key-1')), await client.send<{ id: string }>('users', UsersVerbs.roleCreate, role, meta('role-key-1'))];
    const store = await EventStore.create(await h.env.connect('admin'), { service: 'test' });
    const types = async (subject: string) => {
      const seen: string[] = [];
      for await (const r of store.readStream(subject)) seen.push(r.event.type);
      return seen;
    };

    expect(users[1].id).toBe(users[0].id);
    expect(roles[1].id).toBe(roles[0].id);
    expect(await types(`evt.user.${users[0].id}`)).toEqual(['user.created']);
    expect(await types(`evt.role.${roles[0].id}`)).toEqual(['role.created']);
    expect((await h.login('retried', 'retried-password')).accessToken).toEqual(expect.any(String));
  });

  it('lets nobody grant a permission they do not hold', async () => {
    const managers = await h.http().post('/api/v1/roles').set('Authorization', admin).send({ name: 'managers', permissions: ['users.read', 'users.manage', 'roles.read', 'roles.manage'] });
    await h.http().post('/api/v1/users').set('Authorization', admin).send({ name: 'mallory', email: 'mallory@example.test', password: 'mallory-password', role_id: managers.body.id });
    const mallory = as((await h.login('mallory', 'mallory-password')).accessToken);

    const wideRole = await h.http().post('/api/v1/roles').set('Authorization', mallory).send({ name: 'wide', permissions: ['users.read', 'nodes.manage'] });
    const selfPromotion = await h.http().patch(`/api/v1/roles/${managers.body.id}`).set('Authorization', mallory).send({ permissions: ['users.manage', 'audit.read'] });
    const makeAdmin = await h.http().post('/api/v1/users').set('Authorization', mallory).send({ name: 'trent', email: 'trent@example.test', password: 'trent-password', role_name: 'admin' });
    const narrowRole = await h.http().post('/api/v1/roles').set('Authorization', mallory).send({ name: 'narrow', permissions: ['users.read'] });

    expect(wideRole.status).toBe(403);
    expect(wideRole.body.details.missing).toEqual(['nodes.manage']);
    expect(selfPromotion.status).toBe(403);
    expect(makeAdmin.status).toBe(403);
    expect(narrowRole.status).toBe(201);
  });

  it('lists users filtered by name, email and role, with pages', async () => {
    const byRole = await h.http().get('/api/v1/users?role=operators').set('Authorization', admin);
    const byName = await h.http().get('/api/v1/users?name=car').set('Authorization', admin);
    const page = await h.http().get('/api/v1/users?limit=1').set('Authorization', admin);

    expect(byRole.body.items.map((u: { name: string }) => u.name)).toEqual(['bob']);
    expect(byName.body.items.map((u: { email: string }) => u.email)).toEqual(['carol@example.test']);
    expect(page.body.items).toHaveLength(1);
    const next = await h.http().get(`/api/v1/users?limit=1&cursor=${page.body.nextCursor}`).set('Authorization', admin);
    expect(next.body.items[0].id).not.toBe(page.body.items[0].id);
  });

  it('scopes an API key: allowed routes work, others 403, revoked 401, expired 401', async () => {
    const created = await h.http().post('/api/v1/api-keys').set('Authorization', admin).send({ name: 'ci', permissions: ['users.read'] });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^enck_/);
    expect(created.body.prefix).toBe(created.body.key.slice(0, 12));
    const key = as(created.body.key);

    expect((await h.http().get('/api/v1/users').set('Authorization', key)).status).toBe(200);
    expect((await h.http().get('/api/v1/roles').set('Authorization', key)).status).toBe(403);
    const listed = await h.http().get('/api/v1/api-keys').set('Authorization', admin);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
    expect((await h.http().delete(`/api/v1/api-keys/${created.body.id}`).set('Authorization', admin)).status).toBe(204);
    expect((await h.http().get('/api/v1/users').set('Authorization', key)).status).toBe(401);

    const expiring = await h.http().post('/api/v1/api-keys').set('Authorization', admin).send({ name: 'short', permissions: ['users.read'], expiresAt: new Date(Date.now() + 1500).toISOString() });
    expect((await h.http().get('/api/v1/users').set('Authorization', as(expiring.body.key))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1700));
    expect((await h.http().get('/api/v1/users').set('Authorization', as(expiring.body.key))).status).toBe(401);
  });

  it('gives service accounts keys that never exceed their role', async () => {
    const account = await h.http().post('/api/v1/service-accounts').set('Authorization', admin).send({ name: 'deployer', role_name: 'user' });
    expect(account.status).toBe(201);
    expect(account.body.serviceAccount).toBe(true);

    const tooMuch = await h.http().post('/api/v1/api-keys').set('Authorization', admin).send({ name: 'k', permissions: ['users.manage'], serviceAccountId: account.body.id });
    const ok = await h.http().post('/api/v1/api-keys').set('Authorization', admin).send({ name: 'k', permissions: ['nodes.read'], serviceAccountId: account.body.id });

    expect(tooMuch.status).toBe(403);
    expect(ok.status).toBe(201);
    const me = await h.http().get('/api/v1/auth/me').set('Authorization', as(ok.body.key));
    expect(me.body.permissions).toEqual(['nodes.read']);
    expect((await h.http().post('/api/v1/auth/login').send({ username: 'deployer', password: 'anything-at-all' })).status).toBe(401);

    const accounts = await h.http().get('/api/v1/service-accounts').set('Authorization', admin);
    const people = await h.http().get('/api/v1/users?service_account=false&limit=500').set('Authorization', admin);
    expect(accounts.body.items.map((u: { name: string }) => u.name)).toEqual(['deployer']);
    expect(people.body.items.map((u: { name: string }) => u.name)).not.toContain('deployer');
    expect((await h.http().delete(`/api/v1/service-accounts/${account.body.id}`).set('Authorization', admin)).status).toBe(204);
    expect((await h.http().get('/api/v1/auth/me').set('Authorization', as(ok.body.key))).status).toBe(401);
    expect((await h.http().get(`/api/v1/service-accounts/${account.body.id}`).set('Authorization', admin)).status).toBe(404);
  });

  it('round-trips a profile picture and refuses other types (415) and big files (413)', async () => {
    const put = await h.http().put('/api/v1/users/me/pfp').set('Authorization', admin).attach('file', PNG, { filename: 'a.png', contentType: 'image/png' });
    expect(put.status).toBe(200);
    expect(put.body.hasPicture).toBe(true);
    const me = await h.http().get('/api/v1/users/me').set('Authorization', admin);

    const got = await h.http().get(`/api/v1/users/${me.body.id}/pfp`).set('Authorization', admin).buffer(true).parse((res, cb) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('image/png');
    expect(Buffer.compare(got.body as Buffer, PNG)).toBe(0);

    const text = await h.http().put('/api/v1/users/me/pfp').set('Authorization', admin).attach('file', Buffer.from('hello, not an image'), { filename: 'a.png', contentType: 'image/png' });
    expect(text.status).toBe(415);
    const big = Buffer.concat([PNG, Buffer.alloc(2 * 1024 * 1024)]);
    const large = await h.http().put('/api/v1/users/me/pfp').set('Authorization', admin).attach('file', big, { filename: 'big.png', contentType: 'image/png' });
    expect(large.status).toBe(413);
    expect(large.body.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('makes PATCH conditional with If-Match: of two racing writes one wins, one gets 412', async () => {
    const dave = await h.http().post('/api/v1/users').set('Authorization', admin).send({ name: 'dave', email: 'dave@example.test', password: 'dave-password' });
    const version = dave.body.version;
    const patch = (name: string) =>
      h.http().patch(`/api/v1/users/${dave.body.id}`).set('Authorization', admin).set('If-Match', `"${version}"`).send({ name });

    const results = await Promise.all([patch('dave-a'), patch('dave-b')]);

    expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
    const lost = results.find((r) => r.status === 412)!;
    expect(lost.body.details.currentVersion).toBe(version + 1);
    const winner = results.find((r) => r.status === 200)!;
    expect(winner.headers.etag).toBe(`"${version + 1}"`);
    const store = await EventStore.create(await h.env.connect('admin'), { service: 'test' });
    const types: string[] = [];
    for await (const r of store.readStream(`evt.user.${dave.body.id}`)) types.push(r.event.type);
    expect(types.filter((t) => t === 'user.updated')).toHaveLength(1);
    const now = await h.http().get(`/api/v1/users/${dave.body.id}`).set('Authorization', admin);
    expect(now.body.name).toBe(winner.body.name);
    expect(now.headers.etag).toBe(`"${version + 1}"`);
  });

  it('validates roles: unknown permission 422, assigned role 409 unless forced, built-in 409', async () => {
    const bad = await h.http().post('/api/v1/roles').set('Authorization', admin).send({ name: 'x', permissions: ['nope.nothing'] });
    expect(bad.status).toBe(422);
    const roles = await h.http().get('/api/v1/roles').set('Authorization', admin);
    const operators = roles.body.items.find((r: { name: string }) => r.name === 'operators');
    const builtIn = roles.body.items.find((r: { name: string }) => r.name === 'user');

    expect((await h.http().delete(`/api/v1/roles/${builtIn.id}`).set('Authorization', admin)).status).toBe(409);
    expect((await h.http().delete(`/api/v1/roles/${operators.id}`).set('Authorization', admin)).status).toBe(409);
    expect((await h.http().delete(`/api/v1/roles/${operators.id}?force=true`).set('Authorization', admin)).status).toBe(204);
    const bob = await h.http().get('/api/v1/users?name=bob').set('Authorization', admin);
    expect(bob.body.items[0].roles).toEqual([]);
  });

  it('rebuilds the users read model from EVENTS identical to the live tables', async () => {
    const readModel = h.users.get(ReadModel);
    const dump = async () => ({
      users: await readModel.query(`select * from users.users order by id`),
      roles: await readModel.query(`select * from users.roles order by id`),
      userRoles: await readModel.query(`select * from users.user_roles order by user_id, role_id`),
    });
    await readModel.fresh();
    const live = await dump();

    await readModel.projector.rebuild();
    const store = h.users.get(EventStore);
    await readModel.projector.waitFor(await store.lastSequence(), 10_000);

    expect(await dump()).toEqual(live);
    expect(live.users.length).toBeGreaterThan(3);
  });
});
