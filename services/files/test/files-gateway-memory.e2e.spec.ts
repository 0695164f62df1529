import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServices, serviceCommand } from '../../../infra/scripts/build-services';
import { startStack, type Stack } from '../../gateway/test/stack-harness';
import { stackUsers } from '../../gateway/test/stack-users';
import { uploadStream } from './files-client';
import { downloadHash, peakRss, pseudoRandom, rssBytes } from './streamed-transfer';

const MiB = 1024 * 1024;
/** The file moved up and down (GATEWAY_MEMORY_MIB to change it). */
const SIZE = Number(process.env.GATEWAY_MEMORY_MIB ?? 256) * MiB;
/** Most the gateway's resident memory may grow while SIZE passes through it: far below SIZE, so holding the file fails. */
const MAX_GROWTH = 150 * 1000 * 1000;

/**
 * Issue 10's "memory stays flat" for the process that carries the bytes: the gateway (the files
 * service only keeps metadata). The gateway runs as a process of its own (`services/gateway/src/main.ts`
 * compiled, as `npm run dev` runs it) beside the test's stack, so the RSS sampled is the gateway's
 * alone while SIZE goes up through /fs/upload and down through /fs/download.
 */
describe(`the gateway as a process streams /fs transfers (${SIZE / MiB} MiB)`, () => {
  let stack: Stack;
  let admin: string;
  let alice: string;
  let child: ChildProcess | undefined;
  let output = '';
  let gatewayUrl: string;
  let dir: string;
  const run = randomUUID().slice(0, 8);
  const users = stackUsers(() => stack, () => `Bearer ${admin}`, `files-gateway-memory-${run}.test`);

  /** One streamed upload and download of `size` bytes through the child gateway, with its peak RSS for each. */
  const roundTrip = async (path: string, size: number) => {
    const pid = child!.pid!;
    const sent = createHash('sha256');
    const up = await peakRss(pid, () => uploadStream(new URL('/api/v1/fs/upload', gatewayUrl), alice, path, size, pseudoRandom(size, `${run}${path}`, sent)).answer);
    const sha256 = sent.digest('hex');
    const url = new URL('/api/v1/fs/download', gatewayUrl);
    url.searchParams.set('path', path);
    const down = await peakRss(pid, () => downloadHash(url, alice));
    return { up: up.result, upPeak: up.peak, down: down.result, downPeak: down.peak, sha256 };
  };

  beforeAll(async () => {
    await buildServices();
    stack = await startStack();
    dir = mkdtempSync(join(tmpdir(), 'encedeus-gateway-memory-'));
    mkdirSync(join(dir, 'creds'));
    writeFileSync(join(dir, 'creds', 'gateway.creds'), await stack.env.nats.creds('gateway'), { mode: 0o600 });
    writeFileSync(join(dir, 'account-signer.json'), JSON.stringify(stack.env.nats.signer), { mode: 0o600 });
    writeFileSync(join(dir, 'account-admin.json'), JSON.stringify(stack.env.nats.accountAdmin), { mode: 0o600 });
    admin = await stack.adminToken();
    await users.createUser(`alice${run}`);
    alice = (await users.login(`alice${run}`)).accessToken;

    const command = serviceCommand('services/gateway/src/main.ts');
    child = spawn(command.command, command.args, {
      cwd: join(__dirname, '..', '..', '..'),
      env: {
        ...process.env,
        ...command.env,
        NATS_URL: stack.env.nats.url,
        NATS_CREDS_DIR: join(dir, 'creds'),
        NATS_SIGNER_FILE: join(dir, 'account-signer.json'),
        NATS_ACCOUNT_ADMIN_FILE: join(dir, 'account-admin.json'),
        DATABASE_URL: stack.env.db.url,
        DATA_DIR: dir,
        CONSOLE_DIR: join(dir, 'console'),
        PORT: '0',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (c: Buffer) => (output = (output + c).slice(-20_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    gatewayUrl = await stack
      .waitFor('the gateway process listening', async () => /gateway listening on (http:\/\/\S+) /.exec(output)?.[1], 120_000)
      .catch((error) => {
        throw new Error(`${(error as Error).message}\n${output}`);
      });
  }, 240_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('uploads and downloads byte-identical while the gateway process grows far less than the file', async () => {
    // A small round trip first: the chunking worker, multer and the chunk store are loaded and
    // warm, so the baseline is the gateway at work rather than at rest.
    const warm = await roundTrip('/warm.bin', 8 * MiB);
    expect([warm.up.status, warm.down]).toEqual([200, { status: 200, bytes: 8 * MiB, sha256: warm.sha256 }]);
    const base = rssBytes(child!.pid!);

    const started = Date.now();
    const big = await roundTrip('/big/file.bin', SIZE);
    const seconds = (Date.now() - started) / 1000;
    const growth = Math.max(big.upPeak, big.downPeak) - base;
    console.log(
      `gateway process, ${SIZE / MiB} MiB up and down in ${seconds.toFixed(1)} s: RSS ${(base / MiB).toFixed(0)} MiB → peak ${(big.upPeak / MiB).toFixed(0)} MiB (upload), ` +
        `${(big.downPeak / MiB).toFixed(0)} MiB (download)`,
    );

    expect(big.up.status).toBe(200);
    expect(JSON.parse(big.up.body)).toMatchObject({ path: '/big/file.bin', size: SIZE, sha256: big.sha256 });
    expect(big.down).toEqual({ status: 200, bytes: SIZE, sha256: big.sha256 });
    expect(growth).toBeLessThan(MAX_GROWTH);
    // A minute plus ample time for SIZE on a loaded 2-core box (256 MiB takes about 20 s).
  }, 60_000 + (SIZE / MiB) * 250);
});
