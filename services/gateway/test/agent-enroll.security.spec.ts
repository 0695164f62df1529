import { randomBytes } from 'node:crypto';
import { startStack, type Stack } from './stack-harness';

/** The user name inside a `.creds` file's JWT (`agent-<node id>` for an agent). */
function credsUser(creds: string): string {
  const jwt = /-----BEGIN NATS USER JWT-----\s*(\S+)\s*------END NATS USER JWT------/.exec(creds)![1];
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')).name;
}

/**
 * Issue 14: the short enrollment token and its one narrow path, `POST /api/v1/agent/enroll`
 * (public). Each token is spent once, for its own node only; nothing else ever gets credentials.
 */
describe('agent enrollment (security)', () => {
  let stack: Stack;
  let admin: string;
  const auth = () => `Bearer ${admin}`;
  const enroll = (token: unknown) => stack.http().post('/api/v1/agent/enroll').send({ token, hostname: 'attacker' });
  const createNode = async (name: string, extra: Record<string, unknown> = {}) => {
    const res = await stack.http().post('/api/v1/nodes').set('Authorization', auth()).send({ name, memory_mb: 1024, cpu_percent: 100, storage_size: '5G', ...extra });
    expect(res.status).toBe(201);
    return res.body as { id: string; enrollment: { token: string; command: string; expiresAt: string } };
  };

  beforeAll(async () => {
    stack = await startStack({ metrics: false, files: false });
    admin = await stack.adminToken();
  }, 120_000);
  afterAll(() => stack?.stop());

  it('gives a token its own node\'s credentials once; a reuse gets 401 and nothing', async () => {
    const a = await createNode('enroll-a');
    const b = await createNode('enroll-b');
    const first = await enroll(a.enrollment.token);
    expect(first.status).toBe(200);
    expect(first.headers['cache-control']).toBe('no-store');
    expect(Object.keys(first.body).sort()).toEqual(['creds', 'nats_url', 'node_id']);
    expect(first.body.node_id).toBe(a.id);
    expect(credsUser(first.body.creds)).toBe(`agent-${a.id}`);
    expect(first.body.creds).not.toContain(b.id);
    const reuse = await enroll(a.enrollment.token);
    expect(reuse.status).toBe(401);
    expect(reuse.body).toEqual({ error: expect.stringContaining('already used'), code: 'TOKEN_EXPIRED' });
    // b's token still works, for b only.
    const other = await enroll(b.enrollment.token);
    expect(other.status).toBe(200);
    expect(credsUser(other.body.creds)).toBe(`agent-${b.id}`);
  });

  it('answers 401 to a guessed token, even one with a real node\'s prefix, and 422 to a malformed one', async () => {
    const node = await createNode('enroll-guess');
    const prefix = node.enrollment.token.slice(0, 'enc_12345678_'.length);
    const guesses = [prefix + randomBytes(24).toString('base64url'), `enc_00000000_${randomBytes(24).toString('base64url')}`, node.enrollment.token.slice(0, -1) + (node.enrollment.token.endsWith('A') ? 'B' : 'A')];
    for (const guess of guesses) {
      const res = await enroll(guess);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: expect.any(String), code: 'UNAUTHENTICATED' });
    }
    for (const malformed of [undefined, 42, 'short', 'x'.repeat(500)]) expect((await enroll(malformed)).status).toBe(422);
    // The real token was not touched by the guesses.
    expect((await enroll(node.enrollment.token)).status).toBe(200);
  });

  it('re-issuing gives a short token and voids the earlier one; a deleted node\'s token gives nothing', async () => {
    const node = await createNode('enroll-reissue');
    const again = await stack.http().post(`/api/v1/nodes/${node.id}/enrollment`).set('Authorization', auth()).send({});
    expect(again.status).toBe(201);
    expect(again.body.token).toMatch(/^enc_[0-9a-f]{8}_[A-Za-z0-9_-]{32}$/);
    expect(again.body.command).toBe(`curl -fsSL ${stack.gateway.url}/agent/install.sh | sh -s -- --token ${again.body.token}`);
    expect((await enroll(node.enrollment.token)).status).toBe(401);
    const gone = await createNode('enroll-deleted');
    expect((await stack.http().delete(`/api/v1/nodes/${gone.id}`).set('Authorization', auth())).status).toBe(204);
    const res = await enroll(gone.enrollment.token);
    expect(res.status).toBe(401);
    expect(res.body.creds).toBeUndefined();
    expect((await enroll(again.body.token)).status).toBe(200);
  });

  it('refuses an expired token with 401 TOKEN_EXPIRED', async () => {
    const node = await createNode('enroll-expired', { enrollment_ttl_s: 10 });
    await new Promise((r) => setTimeout(r, Date.parse(node.enrollment.expiresAt) - Date.now() + 500));
    const res = await enroll(node.enrollment.token);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: expect.stringContaining('expired'), code: 'TOKEN_EXPIRED' });
  }, 30_000);

  it('refuses every attempt from an address after 10 failures in a minute, a valid token included (429 with Retry-After)', async () => {
    const node = await createNode('enroll-limited');
    let limited: Awaited<ReturnType<typeof enroll>> | undefined;
    for (let i = 0; i < 12 && !limited; i++) {
      const res = await enroll(`enc_00000000_${randomBytes(24).toString('base64url')}`);
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(401);
    }
    expect(limited?.body.code).toBe('RATE_LIMITED');
    expect(Number(limited?.headers['retry-after'])).toBeGreaterThan(0);
    const valid = await enroll(node.enrollment.token);
    expect(valid.status).toBe(429);
    expect(valid.body.creds).toBeUndefined();
  });
});
