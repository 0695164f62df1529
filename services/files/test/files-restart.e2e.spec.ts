import { randomBytes, randomUUID } from 'node:crypto';
import type { INestMicroservice } from '@nestjs/common';
import { startServiceApp } from '@encedeus/messaging';
import { startStack, type Stack } from '../../gateway/test/stack-harness';
import { stackUsers } from '../../gateway/test/stack-users';
import { FilesModule } from '../src/files.module';
import { ChunkGc } from '../src/gc/chunk-gc';
import { filesClient, uploadStream } from './files-client';

const MiB = 1024 * 1024;

/** Issue 10: the files service stops mid-upload; after its restart nothing half-written is listed and GC reclaims the orphaned chunks. */
describe('files service stopped mid-upload', () => {
  let stack: Stack;
  let admin: string;
  let alice: string;
  let restarted: INestMicroservice | undefined;
  const run = randomUUID().slice(0, 8);
  const users = stackUsers(() => stack, () => `Bearer ${admin}`, `files-restart-${run}.test`);
  const asAlice = filesClient(() => stack, () => alice);
  const asAdmin = filesClient(() => stack, () => admin);

  beforeAll(async () => {
    stack = await startStack();
    admin = await stack.adminToken();
    await users.createUser(`alice${run}`);
    alice = (await users.login(`alice${run}`)).accessToken;
  }, 120_000);

  afterAll(async () => {
    await restarted?.close().catch(() => undefined);
    await stack?.stop();
  });

  it('lists nothing of the upload and collects its chunks after the grace', async () => {
    const before = (await asAdmin.stats()).body;
    const data = randomBytes(8 * MiB);
    const upload = uploadStream(new URL('/api/v1/fs/upload', stack.gateway.url), alice, '/half.bin', data.length, [data.subarray(0, 6 * MiB), data.subarray(6 * MiB)], 6 * MiB);
    // The first chunks are in CHUNKS; the service goes away before the commit.
    await upload.written(6 * MiB);
    // Until some of them are stored (a fixed 500 ms was too short on a loaded CI machine: nothing was stored yet).
    await stack.waitFor('the first chunks of the upload stored', async () => ((await asAdmin.stats()).body.chunks > before.chunks ? true : undefined), 30_000);
    await stack.files!.close();
    upload.finish();
    expect((await upload.answer).status).toBe(503);

    restarted = await startServiceApp('files', FilesModule.forRoot({ nats: { servers: stack.env.nats.url, creds: await stack.env.nats.creds('files') }, databaseUrl: stack.env.db.url }), {
      servers: stack.env.nats.url,
      creds: await stack.env.nats.creds('files'),
      logger: ['error'],
    });
    expect((await asAlice.ls('/')).body).toEqual([]);
    expect((await asAlice.quota()).body.used_bytes).toBe(0);
    const orphaned = (await asAdmin.stats()).body;
    expect(orphaned.chunks).toBeGreaterThan(before.chunks);
    // The gateway retries releasing the upload's reservation until the service is back; until then
    // the collector keeps what the upload stored, after that the orphans go.
    let deleted = 0;
    await stack.waitFor('the orphaned chunks collected', async () => {
      deleted += (await restarted!.get(ChunkGc).collect({ now: new Date(Date.now() + 3_600_000) })).deleted;
      return (await asAdmin.stats()).body.chunks === before.chunks ? true : undefined;
    });
    expect(deleted).toBe(orphaned.chunks - before.chunks);
  }, 120_000);
});
