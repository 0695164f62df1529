import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestMicroservice } from '@nestjs/common';
import { startServiceApp } from '@encedeus/messaging';
import { buildServices, serviceCommand } from '../../../infra/scripts/build-services';
import { startStack, type Stack } from '../../gateway/test/stack-harness';
import { stackUsers } from '../../gateway/test/stack-users';
import { FilesModule } from '../src/files.module';
import { ChunkGc } from '../src/gc/chunk-gc';
import { filesClient, uploadStream } from './files-client';
import { downloadHash, peakRss, pseudoRandom } from './streamed-transfer';

const MiB = 1024 * 1024;

/**
 * Issue 10's acceptance with the files service as a process of its own (`services/files/src/main.ts`
 * compiled, as `npm run dev` runs it): its memory while 100 MiB go up and down, and `kill -9` mid-upload.
 */
describe('files service as a process', () => {
  let stack: Stack;
  let admin: string;
  let alice: string;
  let child: ChildProcess | undefined;
  let output = '';
  let restarted: INestMicroservice | undefined;
  let dir: string;
  const run = randomUUID().slice(0, 8);
  const users = stackUsers(() => stack, () => `Bearer ${admin}`, `files-process-${run}.test`);
  const asAlice = filesClient(() => stack, () => alice);
  const asAdmin = filesClient(() => stack, () => admin);

  const startChild = async () => {
    // As `npm run dev` runs it: compiled, under dev's own command line.
    const command = serviceCommand('services/files/src/main.ts');
    child = spawn(command.command, command.args, {
      cwd: join(__dirname, '..', '..', '..'),
      env: { ...process.env, ...command.env, NATS_URL: stack.env.nats.url, NATS_CREDS_DIR: join(dir, 'creds'), DATABASE_URL: stack.env.db.url, DATA_DIR: dir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    output = '';
    const keep = (c: Buffer) => (output = (output + c).slice(-20_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    await stack.waitFor('the files process answering', async () => ((await asAlice.quota()).status === 200 ? true : undefined), 120_000).catch((error) => {
      throw new Error(`${(error as Error).message}\n${output}`);
    });
  };

  beforeAll(async () => {
    await buildServices();
    stack = await startStack({ files: false });
    dir = mkdtempSync(join(tmpdir(), 'encedeus-files-process-'));
    mkdirSync(join(dir, 'creds'));
    writeFileSync(join(dir, 'creds', 'files.creds'), await stack.env.nats.creds('files'), { mode: 0o600 });
    admin = await stack.adminToken();
    await users.createUser(`alice${run}`);
    alice = (await users.login(`alice${run}`)).accessToken;
    await startChild();
  }, 180_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await restarted?.close().catch(() => undefined);
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('100 MiB up and down byte-identical in several chunks; the files process stays under 200 MB meanwhile', async () => {
    const size = 100 * MiB;
    const sent = createHash('sha256');
    const pid = child!.pid!;
    const { result: up, peak: peakUp } = await peakRss(pid, async () => {
      const upload = uploadStream(new URL('/api/v1/fs/upload', stack.gateway.url), alice, '/big/100.bin', size, pseudoRandom(size, run, sent));
      return upload.answer;
    });
    expect(up.status).toBe(200);
    const file = JSON.parse(up.body);
    const sha = sent.digest('hex');
    expect(file).toMatchObject({ path: '/big/100.bin', size, sha256: sha });
    expect(file.chunks_count).toBeGreaterThan(1);

    const url = new URL('/api/v1/fs/download', stack.gateway.url);
    url.searchParams.set('path', '/big/100.bin');
    const { result: down, peak: peakDown } = await peakRss(pid, () => downloadHash(url, alice));
    expect(down).toEqual({ status: 200, bytes: size, sha256: sha });
    console.log(`files process peak RSS: upload ${(peakUp / MiB).toFixed(0)} MiB, download ${(peakDown / MiB).toFixed(0)} MiB`);
    expect(peakUp).toBeLessThan(200 * 1000 * 1000);
    expect(peakDown).toBeLessThan(200 * 1000 * 1000);
    expect((await asAlice.remove('/big')).status).toBe(200);
  }, 180_000);

  it('kill -9 of the files process mid-upload: after its restart nothing half-written is listed, the quota is whole and the collector reclaims the orphaned chunks', async () => {
    const quotaBefore = (await asAlice.quota()).body;
    const statsBefore = (await asAdmin.stats()).body;
    const size = 16 * MiB;
    const upload = uploadStream(new URL('/api/v1/fs/upload', stack.gateway.url), alice, '/half/killed.bin', size, pseudoRandom(size, `${run}-kill`, createHash('sha256')), 10 * MiB);
    await upload.written(10 * MiB);
    await stack.waitFor('chunks of the upload stored', async () => ((await asAdmin.stats()).body?.chunks > statsBefore.chunks ? true : undefined));
    // No shutdown hook runs: whatever the service held in memory is gone.
    const exited = new Promise((r) => child!.once('exit', r));
    child!.kill('SIGKILL');
    await exited;
    upload.finish();
    const answer = await upload.answer;
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });

    // Restarted in this process, so the test can run a collection "an hour from now".
    restarted = await startServiceApp('files', FilesModule.forRoot({ nats: { servers: stack.env.nats.url, creds: await stack.env.nats.creds('files') }, databaseUrl: stack.env.db.url }), {
      servers: stack.env.nats.url,
      creds: await stack.env.nats.creds('files'),
      logger: ['error'],
    });
    expect((await asAlice.ls('/')).body.map((e: { name: string }) => e.name)).not.toContain('half');
    expect((await asAlice.ls('/half')).status).toBe(404);
    expect((await asAlice.quota()).body).toEqual(quotaBefore);
    const orphaned = (await asAdmin.stats()).body;
    expect(orphaned.chunks).toBeGreaterThan(statsBefore.chunks);
    // The gateway retries the release until the service is back; then the upload holds nothing. No
    // file is left in this stack (the first test removed its own), so a collection leaves no chunk.
    const gc = restarted.get(ChunkGc);
    const collected = await stack.waitFor(
      'the orphaned chunks collected',
      async () => {
        await gc.collect({ now: new Date(Date.now() + 3_600_000) });
        const stats = (await asAdmin.stats()).body;
        return stats.chunks === 0 ? stats : undefined;
      },
      30_000,
    );
    expect(collected).toMatchObject({ chunks: 0, stored_bytes: 0, logical_bytes: 0 });
  }, 180_000);
});
