import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack, type Stack } from '../../gateway/test/stack-harness';
import { stackUsers } from '../../gateway/test/stack-users';
import { filesClient, binary } from './files-client';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Writes `head`, then `pieces` one every `gapMs`, then `tail`; resolves with the answer, or with status 0 when the connection was cut. */
function trickle(url: URL, headers: Record<string, string>, head: Buffer, pieces: Buffer[], tail: Buffer, gapMs: number): Promise<{ status: number; body: string }> {
  const length = head.length + pieces.reduce((n, p) => n + p.length, 0) + tail.length;
  const req = httpRequest(url, { method: 'POST', headers: { ...headers, 'Content-Length': String(length) } });
  const answer = new Promise<{ status: number; body: string }>((resolve) => {
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('response', (res: IncomingMessage) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
  void (async () => {
    req.write(head);
    for (const piece of pieces) {
      await sleep(gapMs);
      if (req.destroyed) return;
      req.write(piece);
    }
    if (!req.destroyed) req.end(tail);
  })();
  return answer;
}

function multipartParts(path: string) {
  const boundary = 'b' + randomUUID().replace(/-/g, '');
  return {
    type: `multipart/form-data; boundary=${boundary}`,
    head: Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n${path}\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    tail: Buffer.from(`\r\n--${boundary}--\r\n`),
  };
}

/**
 * Node's 5-minute requestTimeout used to cut any upload slower than that (a 1 GiB file needed
 * 3.4 MiB/s). With the deadlines shortened to 1.5 s: a slow upload that keeps sending outlasts
 * them, a stalled one is cut (408) and leaves nothing, a JSON body still has a total deadline.
 */
describe('request deadlines of the gateway (uploads on slow links)', () => {
  let stack: Stack;
  let admin: string;
  let carol: string;
  const run = randomUUID().slice(0, 8);
  const users = stackUsers(() => stack, () => `Bearer ${admin}`, `deadlines-${run}.test`);
  const asCarol = filesClient(() => stack, () => carol);
  const saved = { body: process.env.GATEWAY_BODY_TIMEOUT_MS, idle: process.env.GATEWAY_UPLOAD_IDLE_TIMEOUT_MS };

  beforeAll(async () => {
    process.env.GATEWAY_BODY_TIMEOUT_MS = '1500';
    process.env.GATEWAY_UPLOAD_IDLE_TIMEOUT_MS = '1500';
    stack = await startStack();
    admin = await stack.adminToken();
    await users.createUser(`carol${run}`);
    carol = (await users.login(`carol${run}`)).accessToken;
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    for (const [key, value] of [['GATEWAY_BODY_TIMEOUT_MS', saved.body], ['GATEWAY_UPLOAD_IDLE_TIMEOUT_MS', saved.idle]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('lets a multipart upload that keeps sending take longer than any total deadline', async () => {
    // Node's own 5-minute cut for a whole request is off (it ended every upload slower than that).
    expect((stack.gateway.app.getHttpServer() as import('node:http').Server).requestTimeout).toBe(0);
    const data = randomBytes(600 * 1024);
    const pieces = Array.from({ length: 12 }, (_, k) => data.subarray(k * 51_200, (k + 1) * 51_200));
    const { type, head, tail } = multipartParts('/slow/ok.bin');
    const started = Date.now();
    const answer = await trickle(new URL('/api/v1/fs/upload', stack.gateway.url), { Authorization: `Bearer ${carol}`, 'Content-Type': type }, head, pieces, tail, 400);
    expect(Date.now() - started).toBeGreaterThan(4_000);
    expect(answer.status).toBe(200);
    const down = await asCarol.download('/slow/ok.bin');
    expect(down.status).toBe(200);
    expect(sha256(down.body as Buffer)).toBe(sha256(data));
  }, 60_000);

  it('cuts an upload whose bytes stop arriving (408) and leaves nothing behind', async () => {
    const before = (await asCarol.quota()).body as { used_bytes: number };
    const data = randomBytes(300 * 1024);
    const { type, head, tail } = multipartParts('/slow/stalled.bin');
    // One piece, then a 4 s silence before the next: the 1.5 s idle deadline cuts it.
    const answer = await trickle(new URL('/api/v1/fs/upload', stack.gateway.url), { Authorization: `Bearer ${carol}`, 'Content-Type': type }, head, [data.subarray(0, 100_000), data.subarray(100_000)], tail, 4_000);
    expect([0, 408]).toContain(answer.status);
    if (answer.status === 408) expect(JSON.parse(answer.body)).toMatchObject({ code: 'TIMEOUT' });
    await stack.waitFor('the reservation released', async () => {
      const ls = await asCarol.ls('/slow');
      const quota = (await asCarol.quota()).body as { used_bytes: number };
      return ls.status === 200 && !(ls.body as { name: string }[]).some((e) => e.name === 'stalled.bin') && quota.used_bytes === before.used_bytes;
    }, 10_000);
  }, 60_000);

  it('keeps a total deadline on other bodies (a JSON body trickled past it gets 408)', async () => {
    const body = Buffer.from(JSON.stringify({ path: '/slow/folder-' + 'x'.repeat(200) }));
    const pieces = Array.from({ length: 8 }, (_, k) => body.subarray(k * 30, (k + 1) * 30));
    const rest = body.subarray(240);
    const answer = await trickle(new URL('/api/v1/fs/mkdir', stack.gateway.url), { Authorization: `Bearer ${carol}`, 'Content-Type': 'application/json' }, Buffer.alloc(0), pieces, rest, 400);
    expect([0, 408]).toContain(answer.status);
    const ls = await asCarol.ls('/slow');
    expect((ls.body as { name: string }[]).some((e) => e.name.startsWith('folder-'))).toBe(false);
  }, 60_000);

  it('still answers ordinary requests on a kept-alive connection after an upload', async () => {
    const up = await asCarol.upload('/slow/quick.bin', randomBytes(1000));
    expect(up.status).toBe(200);
    const down = await stack.http().get('/api/v1/fs/download').query({ path: '/slow/quick.bin' }).set('Authorization', `Bearer ${carol}`).buffer(true).parse(binary);
    expect(down.status).toBe(200);
  }, 30_000);
});
