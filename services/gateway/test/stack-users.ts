import type { Stack } from './stack-harness';

/** Users of a test stack (read when first used: tests assign it in beforeAll), created by the admin (`Bearer …` in `admin()`) and signed in by name; passwords are `<name>-password`. */
export function stackUsers(stack: () => Stack, admin: () => string, emailDomain: string) {
  const createUser = async (name: string, roleName?: string) => {
    const res = await stack()
      .http()
      .post('/api/v1/users')
      .set('Authorization', admin())
      .send({ name, email: `${name}@${emailDomain}`, password: `${name}-password`, ...(roleName ? { role_name: roleName } : {}) });
    if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as { id: string; name: string };
  };
  const login = async (name: string, password = `${name}-password`) => {
    const res = await stack().http().post('/api/v1/auth/login').send({ username: name, password });
    if (res.status !== 200) throw new Error(`login ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as { accessToken: string; refreshToken: string };
  };
  return { createUser, login };
}
