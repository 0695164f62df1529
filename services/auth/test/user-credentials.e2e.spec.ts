import type { INestMicroservice } from '@nestjs/common';
import { AuthVerbs } from '@encedeus/contracts';
import { CommandClient } from '@encedeus/messaging';
import { ApiKeysService } from '../src/apikeys/apikeys.service';
import { AuthState } from '../src/state/auth-state';
import { startAuthApp, startIdentity, type IdentityHarness } from '../../users/test/identity-harness';

/** Polls `probe` until it returns true, for at most `ms`; false when it never did. */
async function eventually(probe: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return probe();
}

describe('credentials follow the user events (UserCredentialsProcessManager)', () => {
  let h: IdentityHarness;
  let restarted: INestMicroservice | undefined;
  const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;

  beforeAll(async () => {
    h = await startIdentity();
  });
  afterAll(async () => {
    await restarted?.close().catch(() => undefined);
    await h?.stop();
  });

  const credentialsOf = (app: INestMicroservice, userId: string) =>
    app.get(AuthState).query<{ confirmed: boolean }>(`select confirmed_at is not null as confirmed from auth.credentials where user_id = $1`, [userId]);

  it('confirms staged credentials when user.created arrives', async () => {
    const admin = `Bearer ${await h.adminToken()}`;

    const created = await h.http().post('/api/v1/users').set('Authorization', admin).send({ name: `staged-${run}`, email: `staged-${run}@pm.test`, password: 'staged-password' });

    expect(created.status).toBe(201);
    expect(await eventually(async () => (await credentialsOf(h.auth, created.body.id))[0]?.confirmed === true)).toBe(true);
    await h.login(`staged-${run}`, 'staged-password');
  });

  it('refuses a create that names the id of an existing user, leaving its credentials alone', async () => {
    const admin = `Bearer ${await h.adminToken()}`;
    const first = await h.http().post('/api/v1/users').set('Authorization', admin).send({ name: `owner-${run}`, email: `owner-${run}@pm.test`, password: 'owner-password' });
    expect(first.status).toBe(201);

    await eventually(async () => (await credentialsOf(h.auth, first.body.id))[0]?.confirmed === true);

    const again = await h.users
      .get(CommandClient)
      .send('auth', AuthVerbs.setCredentials, { userId: first.body.id, name: `owner-${run}`, email: `owner-${run}@pm.test`, password: 'taken-over', create: true }, { actor: 'system' })
      .then(() => 'written', (e: { code?: string }) => e.code);

    expect(again).toBe('ALREADY_EXISTS');
    await h.login(`owner-${run}`, 'owner-password');
  });

  it('never brings back the credentials of a deleted user: a late change (or its compensation) answers NOT_FOUND and writes nothing', async () => {
    const admin = `Bearer ${await h.adminToken()}`;
    const user = await h.http().post('/api/v1/users').set('Authorization', admin).send({ name: `gone-${run}`, email: `gone-${run}@pm.test`, password: 'gone-password' });
    expect(user.status).toBe(201);
    expect((await h.http().delete(`/api/v1/users/${user.body.id}`).set('Authorization', admin)).status).toBeLessThan(300);
    expect(await eventually(async () => (await credentialsOf(h.auth, user.body.id)).length === 0)).toBe(true);

    const late = await h.users
      .get(CommandClient)
      .send('auth', AuthVerbs.setCredentials, { userId: user.body.id, name: `gone-${run}`, email: `gone-${run}@pm.test`, password: 'late-password' }, { actor: 'system' })
      .then(() => 'written', (e: { code?: string }) => e.code);

    expect(late).toBe('NOT_FOUND');
    expect(await credentialsOf(h.auth, user.body.id)).toEqual([]);
  });

  it('ends credentials, sessions and API keys of a user deleted while auth was down, once auth is back', async () => {
    const admin = `Bearer ${await h.adminToken()}`;
    const user = await h.http().post('/api/v1/users').set('Authorization', admin).send({ name: `gone-${run}`, email: `gone-${run}@pm.test`, password: 'gone-password' });
    expect(user.status).toBe(201);
    const session = await h.login(`gone-${run}`, 'gone-password');
    const key = await h.auth.get(ApiKeysService).create({ name: 'automation', permissions: [], ownerId: user.body.id }, `user:${user.body.id}`);
    await h.auth.close();

    const deleted = await h.http().delete(`/api/v1/users/${user.body.id}`).set('Authorization', admin);
    restarted = await startAuthApp(h.env, h.smtp);
    const state = restarted.get(AuthState);
    const ended = await eventually(async () => {
      const [c] = await state.query<{ n: number }>(`select count(*)::int as n from auth.credentials where user_id = $1`, [user.body.id]);
      const [t] = await state.query<{ n: number }>(`select count(*)::int as n from auth.refresh_tokens where user_id = $1 and revoked_at is null`, [user.body.id]);
      const [k] = await state.query<{ revoked: boolean }>(`select revoked_at is not null as revoked from auth.api_keys where id = $1`, [key.id]);
      return c.n === 0 && t.n === 0 && k.revoked;
    });

    expect(deleted.status).toBe(204);
    expect(ended).toBe(true);
    expect((await h.http().get('/api/v1/auth/refresh').set('Authorization', `Bearer ${session.refreshToken}`)).status).toBe(401);
  });
});
