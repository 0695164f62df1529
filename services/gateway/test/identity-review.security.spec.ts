import { CommandClient } from '@encedeus/messaging';
import { UsersVerbs, type DomainError } from '@encedeus/contracts';
import type { Response } from 'supertest';
import { startStack, STACK_ADMIN, type Stack } from './stack-harness';
import { stackUsers } from './stack-users';

/**
 * Issue #8 follow-up: the identity findings of the security review of the issue-8 fixes (F1, F3,
 * F4, F6, F8, F14a–c), each replayed against the whole real backend (auth, users, nodes and the
 * gateway on real NATS and Postgres).
 */
describe('identity review findings', () => {
  let s: Stack;
  let admin: string;
  let adminId: string;
  const as = (token: string) => `Bearer ${token}`;
  let counter = 0;

  const { createUser, login } = stackUsers(() => s, () => admin, 'review.test');
  /** A fresh user holding only users.read + users.manage, signed in. */
  const manager = async () => {
    const name = `mgr${counter++}`;
    const user = await createUser(name, 'user-managers');
    return { id: user.id, name, token: as((await login(name)).accessToken) };
  };
  const roleNames = async (userId: string) =>
    (await s.http().get(`/api/v1/users/${userId}`).set('Authorization', admin)).body.roles.map((r: { name: string }) => r.name);
  const expectErrorBody = (res: Response) => {
    expect(typeof res.body.error).toBe('string');
    expect(typeof res.body.code).toBe('string');
  };

  beforeAll(async () => {
    s = await startStack();
    admin = as(await s.adminToken());
    adminId = (await s.http().get('/api/v1/users/me').set('Authorization', admin)).body.id;
    const roles: [string, string[]][] = [
      ['user-managers', ['users.read', 'users.manage']],
      ['ops-kit', ['nodes.manage', 'servers.manage']],
      ['key-managers', ['apikeys.manage', 'users.read']],
      ['readers', ['users.read']],
      ['integrators', ['integrations.manage']],
      ['event-integrators', ['integrations.manage', 'events.read']],
    ];
    for (const [name, permissions] of roles) {
      const res = await s.http().post('/api/v1/roles').set('Authorization', admin).send({ name, permissions });
      if (res.status !== 201) throw new Error(`role ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    }
  }, 120_000);
  afterAll(() => s?.stop());

  describe('F1: role names in another Unicode case', () => {
    it('refuses role names that only a Unicode case fold turns into an existing role', async () => {
      const mgr = await manager();

      const attempts = await Promise.all(
        ['ADMİN', 'admİn', 'OPS-KİT', 'ops-\u212Ait'].map((role_name) => s.http().patch(`/api/v1/users/${mgr.id}`).set('Authorization', mgr.token).send({ role_name })),
      );
      const create = await s.http().post('/api/v1/users').set('Authorization', mgr.token).send({ name: 'sneaky-f1', email: 'sneaky-f1@review.test', password: 'sneaky-f1-password', role_name: 'admİn' });

      expect(attempts.map((r) => r.status)).toEqual([422, 422, 422, 422]);
      attempts.forEach(expectErrorBody);
      expect(create.status).toBe(422);
      expect(await roleNames(mgr.id)).toEqual(['user-managers']);
      expect((await s.http().get('/api/v1/users?name=sneaky-f1').set('Authorization', admin)).body.items).toEqual([]);
    });

    it('checks a role named in another ASCII case as the role it names', async () => {
      const mgr = await manager();
      const target = await createUser(`plain${counter++}`);

      const upper = await s.http().patch(`/api/v1/users/${mgr.id}`).set('Authorization', mgr.token).send({ role_name: 'ADMIN' });
      const byAdmin = await s.http().patch(`/api/v1/users/${target.id}`).set('Authorization', admin).send({ role_name: 'OPS-KIT' });

      expect(upper.status).toBe(403);
      expect(byAdmin.status).toBe(200);
      expect(byAdmin.body.roles.map((r: { name: string }) => r.name)).toEqual(['ops-kit']);
    });

    it('has the users service assign only the role whose stored name matches', async () => {
      const mgr = await manager();
      const commands = new CommandClient(await s.env.connect('gateway'));

      const sent = commands.send('users', UsersVerbs.update, { id: mgr.id, role_name: 'ADMİN' }, { actor: `user:${adminId}` });

      await expect(sent).rejects.toMatchObject({ code: 'UNPROCESSABLE' } satisfies Partial<DomainError>);
      expect(await roleNames(mgr.id)).toEqual(['user-managers']);
    });
  });

  describe('F3: changing yourself through /users/:id', () => {
    it('refuses an API key a change of its owner\'s email or password through /users/:id', async () => {
      const all = (await s.http().get('/api/v1/roles/00000000-0000-4000-8000-000000000001').set('Authorization', admin)).body.permissions;
      const key = await s.http().post('/api/v1/api-keys').set('Authorization', admin).send({ name: 'full-f3', permissions: all });
      expect(key.status).toBe(201);

      const email = await s.http().patch(`/api/v1/users/${adminId}`).set('Authorization', as(key.body.key)).send({ email: 'owned@review.test' });
      const password = await s.http().patch(`/api/v1/users/${adminId}`).set('Authorization', as(key.body.key)).send({ password: 'owned password 1' });

      expect([email.status, password.status]).toEqual([403, 403]);
      [email, password].forEach(expectErrorBody);
      expect((await s.http().get(`/api/v1/users/${adminId}`).set('Authorization', admin)).body.email).toBe(STACK_ADMIN.email);
      expect((await s.http().post('/api/v1/auth/login').send(STACK_ADMIN)).status).toBe(200);
    });

    it('refuses an API key to disable, delete or re-role its owner or switch its two-step login', async () => {
      const mgr = await manager();
      const key = await s.http().post('/api/v1/api-keys').set('Authorization', mgr.token).send({ name: 'mgr-key', permissions: ['users.read', 'users.manage'] });
      const byKey = as(key.body.key);

      const attempts = await Promise.all([
        s.http().patch(`/api/v1/users/${mgr.id}`).set('Authorization', byKey).send({ disabled: true }),
        s.http().patch(`/api/v1/users/${mgr.id}`).set('Authorization', byKey).send({ otpEnabled: true }),
        s.http().patch(`/api/v1/users/${mgr.id}`).set('Authorization', byKey).send({ role_name: 'user-managers' }),
        s.http().delete(`/api/v1/users/${mgr.id}`).set('Authorization', byKey),
      ]);

      expect(attempts.map((r) => r.status)).toEqual([403, 403, 403, 403]);
      attempts.forEach(expectErrorBody);
      const now = await s.http().get(`/api/v1/users/${mgr.id}`).set('Authorization', admin);
      expect(now.body).toMatchObject({ disabled: false, otpEnabled: false });
    });

    it('asks a signed-in user for the current password to change their own password or email through /users/:id', async () => {
      const mgr = await manager();

      const password = await s.http().patch(`/api/v1/users/${mgr.id}`).set('Authorization', mgr.token).send({ password: 'new manager password' });
      const email = await s.http().patch(`/api/v1/users/${mgr.id}`).set('Authorization', mgr.token).send({ email: 'mgr-new@review.test' });
      const wrong = await s.http().patch(`/api/v1/users/${mgr.id}`).set('Authorization', mgr.token).send({ email: 'mgr-new@review.test', current_password: 'not the password' });
      const right = await s.http().patch(`/api/v1/users/${mgr.id}`).set('Authorization', mgr.token).send({ email: 'mgr-new@review.test', current_password: `${mgr.name}-password` });

      expect([password.status, email.status, wrong.status, right.status]).toEqual([422, 422, 403, 200]);
      [password, email, wrong].forEach(expectErrorBody);
      expect(right.body.email).toBe('mgr-new@review.test');
      expect((await s.http().post('/api/v1/auth/login').send({ username: mgr.name, password: `${mgr.name}-password` })).status).toBe(200);
    });
  });

  describe('F4: the default role of a new user', () => {
    it('refuses a users manager a new user with the default role it cannot grant', async () => {
      const mgr = await manager();

      const res = await s.http().post('/api/v1/users').set('Authorization', mgr.token).send({ name: 'puppet-f4', email: 'puppet-f4@review.test', password: 'puppet-f4-password' });

      expect(res.status).toBe(403);
      expectErrorBody(res);
      expect(res.body.details.missing).toEqual(expect.arrayContaining(['servers.create', 'jobs.run']));
      expect((await s.http().get('/api/v1/users?name=puppet-f4').set('Authorization', admin)).body.items).toEqual([]);
    });

    it('still gives an admin\'s new user the default role', async () => {
      const user = await createUser(`dflt${counter++}`);

      expect(await roleNames(user.id)).toEqual(['user']);
    });
  });

  describe('F6: crafted list cursors', () => {
    const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const crafted = [cursor(['nope', 'nope']), cursor([1, 2]), cursor(['\u0000', 'x']), cursor(['2020-01-01T00:00:00Z', 'zz']), cursor({ a: 1 }), 'bm90IGpzb24'];

    it.each(['/api/v1/users', '/api/v1/roles', '/api/v1/service-accounts'])('answers 422 to crafted cursors on %s, and follows its own', async (route) => {
      await s.http().post('/api/v1/service-accounts').set('Authorization', admin).send({ name: `sa${counter++}` });
      await s.http().post('/api/v1/service-accounts').set('Authorization', admin).send({ name: `sa${counter++}` });

      const answers = await Promise.all(crafted.map((c) => s.http().get(`${route}?cursor=${c}`).set('Authorization', admin)));
      const first = await s.http().get(`${route}?limit=1`).set('Authorization', admin);
      const next = await s.http().get(`${route}?limit=1&cursor=${first.body.nextCursor}`).set('Authorization', admin);

      expect(answers.map((r) => r.status)).toEqual(crafted.map(() => 422));
      answers.forEach(expectErrorBody);
      expect(next.status).toBe(200);
      expect(next.body.items).toHaveLength(1);
      expect(next.body.items[0].id).not.toBe(first.body.items[0].id);
    });
  });

  describe('F8: keys made by keys', () => {
    it('caps the expiry of a key made by a key at its creator\'s', async () => {
      const owner = await createUser(`keys${counter++}`);
      const session = as((await login(owner.name)).accessToken);
      const parentExpiry = new Date(Date.now() + 60_000).toISOString();
      const parent = await s.http().post('/api/v1/api-keys').set('Authorization', session).send({ name: 'short', permissions: ['nodes.read'], expiresAt: parentExpiry });
      expect(parent.status).toBe(201);

      const defaulted = await s.http().post('/api/v1/api-keys').set('Authorization', as(parent.body.key)).send({ name: 'child', permissions: ['nodes.read'] });
      const later = await s.http().post('/api/v1/api-keys').set('Authorization', as(parent.body.key)).send({ name: 'later', permissions: ['nodes.read'], expiresAt: new Date(Date.now() + 3600_000).toISOString() });
      const earlierAt = new Date(Date.now() + 30_000).toISOString();
      const earlier = await s.http().post('/api/v1/api-keys').set('Authorization', as(parent.body.key)).send({ name: 'earlier', permissions: ['nodes.read'], expiresAt: earlierAt });

      expect(defaulted.status).toBe(201);
      expect(Date.parse(defaulted.body.expiresAt)).toBe(Date.parse(parentExpiry));
      expect(later.status).toBe(422);
      expectErrorBody(later);
      expect(earlier.status).toBe(201);
      expect(Date.parse(earlier.body.expiresAt)).toBe(Date.parse(earlierAt));
    });
  });

  describe('F14: smaller identity findings', () => {
    it('F14a: asks for the current password to switch two-step login at /users/me', async () => {
      const user = await createUser(`otp${counter++}`);
      const session = as((await login(user.name)).accessToken);

      const without = await s.http().patch('/api/v1/users/me').set('Authorization', session).send({ otpEnabled: true });
      const withCurrent = await s.http().patch('/api/v1/users/me').set('Authorization', session).send({ otpEnabled: true, current_password: `${user.name}-password` });

      expect(without.status).toBe(422);
      expectErrorBody(without);
      expect(withCurrent.status).toBe(200);
      expect(withCurrent.body.otpEnabled).toBe(true);
    });

    it('F14b: lets a key manager revoke only keys of owners it may manage', async () => {
      const adminKey = await s.http().post('/api/v1/api-keys').set('Authorization', admin).send({ name: 'admin-f14b', permissions: ['nodes.read'] });
      const reader = await createUser(`reader${counter++}`, 'readers');
      const readerKey = await s.http().post('/api/v1/api-keys').set('Authorization', as((await login(reader.name)).accessToken)).send({ name: 'reader-f14b', permissions: ['users.read'] });
      const km = await createUser(`km${counter++}`, 'key-managers');
      const token = as((await login(km.name)).accessToken);

      const revokeAdmin = await s.http().delete(`/api/v1/api-keys/${adminKey.body.id}`).set('Authorization', token);
      const revokeReader = await s.http().delete(`/api/v1/api-keys/${readerKey.body.id}`).set('Authorization', token);

      expect(revokeAdmin.status).toBe(403);
      expectErrorBody(revokeAdmin);
      expect((await s.http().get('/api/v1/nodes').set('Authorization', as(adminKey.body.key))).status).toBe(200);
      expect(revokeReader.status).toBe(204);
      expect((await s.http().get('/api/v1/users/me').set('Authorization', as(readerKey.body.key))).status).toBe(401);
    });

    it('F14c: refuses integrator credentials to someone who may not read events', async () => {
      const without = await createUser(`integ${counter++}`, 'integrators');
      const withEvents = await createUser(`integ${counter++}`, 'event-integrators');

      const refused = await s.http().post('/api/v1/integrations/nats-credentials').set('Authorization', as((await login(without.name)).accessToken)).send({ name: 'no-events' });
      const issued = await s.http().post('/api/v1/integrations/nats-credentials').set('Authorization', as((await login(withEvents.name)).accessToken)).send({ name: 'with-events' });

      expect(refused.status).toBe(403);
      expectErrorBody(refused);
      expect(refused.body.details.missing).toEqual(['events.read']);
      expect(issued.status).toBe(201);
    });
  });
});
