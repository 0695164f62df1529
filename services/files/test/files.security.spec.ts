import { randomBytes, randomUUID } from 'node:crypto';
import { STREAMS } from '@encedeus/contracts';
import { connectNats } from '@encedeus/messaging';
import { startStack, type Stack } from '../../gateway/test/stack-harness';
import { stackUsers } from '../../gateway/test/stack-users';
import { filesClient } from './files-client';

/** Issue 10: users never see each other's trees; hostile paths are refused with 4xx and change nothing. */
describe('files security', () => {
  let stack: Stack;
  let admin: string;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };
  const run = randomUUID().slice(0, 8);
  const users = stackUsers(() => stack, () => `Bearer ${admin}`, `files-sec-${run}.test`);
  const asAlice = filesClient(() => stack, () => alice.token);
  const asBob = filesClient(() => stack, () => bob.token);

  beforeAll(async () => {
    stack = await startStack();
    admin = await stack.adminToken();
    for (const name of ['alice', 'bob'] as const) {
      const u = await users.createUser(`${name}${run}`);
      const who = { id: u.id, token: (await users.login(`${name}${run}`)).accessToken };
      if (name === 'alice') alice = who;
      else bob = who;
    }
    expect((await asAlice.upload('/secret/plan.txt', Buffer.from('alice only'))).status).toBe(200);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it("another user's tree does not exist for you: ls, download, move, delete are 404 and change nothing", async () => {
    expect((await asBob.ls('/')).body).toEqual([]);
    expect((await asBob.ls('/secret')).status).toBe(404);
    expect((await asBob.download('/secret/plan.txt')).status).toBe(404);
    expect((await asBob.move('/secret/plan.txt', '/mine.txt')).status).toBe(404);
    expect((await asBob.remove('/secret')).status).toBe(404);
    // Bob's own folder of the same name is his, and Alice's is untouched.
    expect((await asBob.mkdir('/secret')).status).toBe(200);
    expect((await asBob.ls('/secret')).body).toEqual([]);
    const mine = await asAlice.download('/secret/plan.txt');
    expect((mine.body as Buffer).toString()).toBe('alice only');
    expect((await asBob.quota()).body.used_bytes).toBe(0);
  });

  it("another user's raw file is 404 by id", async () => {
    const raw = await asAlice.uploadRaw(Buffer.from('raw secret'), 'r.txt');
    expect(raw.status).toBe(200);
    const bobAuth = `Bearer ${bob.token}`;
    expect((await stack.http().get(`/api/v1/files/${raw.body.id}/download`).set('Authorization', bobAuth)).status).toBe(404);
    expect((await stack.http().delete(`/api/v1/files/${raw.body.id}`).set('Authorization', bobAuth)).status).toBe(404);
    expect((await stack.http().get('/api/v1/files/not-a-uuid/download').set('Authorization', bobAuth)).status).toBe(422);
  });

  const hostile = ['..', '/..', '/a/../secret', '/a/./b', '//x', '/x/', 'relative', '/a\\..\\b', '/nul\0byte', `/${'n'.repeat(256)}`, `/${'é'.repeat(128)}`, `/${Array(1100).fill('abcd').join('/')}`, ''];

  it.each(hostile.map((p) => [JSON.stringify(p).slice(0, 40), p]))('refuses the path %s everywhere with 422 and stores nothing', async (_label, path) => {
    for (const res of [
      await asBob.mkdir(path),
      await asBob.ls(path),
      await asBob.download(path),
      await asBob.remove(path),
      await asBob.move(path, '/ok'),
      await asBob.move('/secret', path),
      await asBob.upload(path, Buffer.from('x')),
    ]) {
      const code = Buffer.isBuffer(res.body) ? (JSON.parse(res.body.toString()) as { code: string }).code : res.body?.code;
      expect([res.status, code]).toEqual([422, 'VALIDATION_FAILED']);
    }
    expect((await asBob.quota()).body.used_bytes).toBe(0);
  });

  it('a name of 255 bytes is fine; an uploaded file name never becomes a path', async () => {
    expect((await asBob.mkdir(`/${'n'.repeat(255)}`)).status).toBe(200);
    const up = await asBob.upload('/plain.txt', randomBytes(10), '../../etc/passwd');
    expect(up.status).toBe(200);
    expect(up.body.path).toBe('/plain.txt');
    const raw = await asBob.uploadRaw(Buffer.from('x'), '../../etc/passwd');
    expect([raw.status, raw.body.name]).toEqual([200, 'passwd']);
  });

  it('quota and stats are for administrators only', async () => {
    const bobAuth = `Bearer ${bob.token}`;
    expect((await stack.http().put(`/api/v1/users/${bob.id}/quota`).set('Authorization', bobAuth).send({ bytes: 1e15 })).status).toBe(403);
    expect((await asBob.stats()).status).toBe(403);
    expect((await stack.http().put(`/api/v1/users/${bob.id}/quota`).set('Authorization', `Bearer ${admin}`).send({ bytes: -1 })).status).toBe(422);
    expect((await stack.http().get('/api/v1/fs/quota')).status).toBe(401);
    expect((await stack.http().put(`/api/v1/users/${randomUUID()}/quota`).set('Authorization', `Bearer ${admin}`).send({ bytes: 1 })).status).toBe(404);
  });

  it('GET /fs/stats answers system.health without files.admin; files.read alone is 403', async () => {
    const role = await stack.http().post('/api/v1/roles').set('Authorization', `Bearer ${admin}`).send({ name: `health-${run}`, permissions: ['system.health', 'files.read'] });
    expect(role.status).toBe(201);
    await users.createUser(`carol${run}`, `health-${run}`);
    const carolToken = (await users.login(`carol${run}`)).accessToken;
    const carol = filesClient(() => stack, () => carolToken);

    const health = await carol.stats();
    const plain = await asBob.stats();

    expect([health.status, health.body]).toEqual([200, expect.objectContaining({ chunks: expect.any(Number), stored_bytes: expect.any(Number), logical_bytes: expect.any(Number) })]);
    expect([plain.status, plain.body.code]).toEqual([403, 'FORBIDDEN']);
    expect(plain.body.error).toContain('files.admin or system.health');
  });

  it('the gateway NATS user may put and read chunks but never delete or purge them', async () => {
    const { nc } = await connectNats({ servers: stack.env.nats.url, creds: await stack.env.nats.creds('gateway'), name: `files-sec-gw-${run}` });
    try {
      const jsm = await nc.jetstreamManager();
      await expect(jsm.streams.purge(STREAMS.chunks)).rejects.toThrow();
      await expect(jsm.streams.deleteMessage(STREAMS.chunks, 1)).rejects.toThrow();
      await expect(jsm.consumers.add(STREAMS.chunks, { durable_name: `sneak${run}` })).rejects.toThrow();
    } finally {
      await nc.close();
    }
    const { nc: plugins } = await connectNats({ servers: stack.env.nats.url, creds: await stack.env.nats.creds('plugins'), name: `files-sec-pl-${run}` });
    try {
      await expect((await plugins.jetstreamManager()).streams.getMessage(STREAMS.chunks, { seq: 1 })).rejects.toThrow();
    } finally {
      await plugins.close();
    }
  });

  it('a body that is not multipart, or has no file part, is refused without a 500', async () => {
    const auth = `Bearer ${bob.token}`;
    expect((await stack.http().post('/api/v1/fs/upload').set('Authorization', auth).send({ path: '/x' })).status).toBe(415);
    expect((await stack.http().post('/api/v1/fs/upload').set('Authorization', auth).field('path', '/x')).status).toBe(422);
    const late = await stack.http().post('/api/v1/fs/upload').set('Authorization', auth).attach('file', Buffer.from('x'), 'x').field('path', '/x');
    expect(late.status).toBe(422);
    const broken = await stack.http().post('/api/v1/fs/upload').set('Authorization', auth).set('Content-Type', 'multipart/form-data; boundary=zzz').send('--zzz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc');
    expect([400, 422]).toContain(broken.status);
  });
});
