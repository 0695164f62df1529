import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestMicroservice } from '@nestjs/common';
import { startServiceApp } from '@encedeus/messaging';
import { FilesModule } from '../services/files/src/files.module';
import { FilesModule as GatewayFilesModule } from '../services/gateway/src/files/files.module';
import { createGatewayApp } from '../services/gateway/src/gateway.app';
import { testPrincipalModule } from '../services/gateway/test/test-principal';
import { benchEnv, conditions, median, record, secondsSince } from './lib/harness';

/**
 * Issue 10's files figures through the gateway: a multipart upload (`POST /fs/upload`, chunked and
 * put into CHUNKS as it streams, then committed by the files service) and a download (`GET
 * /fs/download`, chunks read back by direct get), beside the raw figures of the same run: plain
 * `js.publish` of the same bytes in 1 MiB messages, direct get of them, and a loopback HTTP copy.
 */
const BENCH = 'files-rest';
const MiB = 1024 * 1024;
const BYTES = Number(process.env.BENCH_FILES_MIB ?? 100) * MiB;
const ROUNDS = 5;

function multipart(path: string, data: Buffer): { body: Buffer; type: string } {
  const boundary = `bench${Date.now()}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n${path}\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  return { body: Buffer.concat([head, data, Buffer.from(`\r\n--${boundary}--\r\n`)]), type: `multipart/form-data; boundary=${boundary}` };
}

/** Sends `body` and reads the whole answer; resolves with the status and the bytes received. */
function send(url: string, method: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; bytes: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) } }, (res) => {
      let bytes = 0;
      let text = '';
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (text.length < 2000) text += c.toString('utf8', 0, Math.min(c.length, 2000));
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The HTTP client: curl in a process of its own when the machine has it (as a real client is: its
 * reading and writing do not share the gateway's thread), else node:http in this process.
 */
const CURL = ['/usr/bin/curl', '/bin/curl'].find((p) => existsSync(p));

/**
 * One curl run; `seconds` is curl's own `time_total` (connect to last byte), so the figure leaves out
 * starting the process: forking from this process, which holds the rounds' bytes, took ~0.3 s per
 * request here and blocked the gateway's thread (it runs in this process) meanwhile.
 */
function curl(args: string[]): Promise<{ status: number; bytes: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    execFile(CURL!, ['-sS', '-o', '/dev/null', '-H', 'Expect:', '-w', '%{http_code} %{size_download} %{time_total}', ...args], (error, stdout) => {
      if (error) return reject(error);
      const [status, bytes, seconds] = stdout.trim().split(' ').map(Number);
      resolve({ status, bytes, seconds });
    });
  });
}

/**
 * Median MiB/s of each of `paths` over ROUNDS rounds, taken in turn within every round (path 1,
 * path 2, … then the next round), so a figure and its raw reference see the same machine: on a
 * shared box the load moves between seconds, and a raw figure measured a minute later says little.
 * With each rate, the median CPU time this process (every thread: the event loop and the chunking
 * worker) spent on one round of that path. A path that resolves with a number of seconds (curl's
 * own transfer time) is timed by it rather than by the clock around it.
 */
async function interleaved(bytes: number, paths: ((round: number) => Promise<number | void>)[]): Promise<{ rate: number; cpuMs: number }[]> {
  const rates = paths.map(() => [] as number[]);
  const cpu = paths.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, path] of paths.entries()) {
      const start = process.hrtime.bigint();
      const used = process.cpuUsage();
      const own = await path(r);
      const spent = process.cpuUsage(used);
      rates[k].push(bytes / MiB / (typeof own === 'number' ? own : secondsSince(start)));
      cpu[k].push((spent.user + spent.system) / 1000);
    }
  }
  return rates.map((r, k) => ({ rate: median(r), cpuMs: median(cpu[k]) }));
}

export async function run(): Promise<void> {
  const env = benchEnv();
  const filesCreds = await env.nats.creds('files');
  const files: INestMicroservice = await startServiceApp('files', FilesModule.forRoot({ nats: { servers: env.nats.url, creds: filesCreds }, databaseUrl: env.db.url }), {
    servers: env.nats.url,
    creds: filesCreds,
    logger: false,
  });
  const gateway = await createGatewayApp(
    {
      nats: { servers: env.nats.url, creds: await env.nats.creds('gateway') },
      databaseUrl: env.db.url,
      signer: env.nats.signer,
      features: [testPrincipalModule(), GatewayFilesModule.forRoot({})],
      logLevel: 'silent',
    },
    0,
    '127.0.0.1',
  );
  const sink = createServer((req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  try {
    const auth = { authorization: 'Bearer all' };
    // Distinct bytes per round: every round stores new chunks (no dedupe flattering the figure).
    const rounds = Array.from({ length: ROUNDS + 1 }, () => randomBytes(BYTES));
    // With curl the bodies are files; only node:http needs them in memory (a smaller process forks faster).
    const bodies = rounds.map((data, r) => (CURL && r < ROUNDS ? undefined : multipart(`/bench/r${r}.bin`, data)));
    const warm = await send(`${gateway.url}/api/v1/fs/upload`, 'POST', { ...auth, 'content-type': bodies[ROUNDS]!.type }, bodies[ROUNDS]!.body);
    if (warm.status !== 200) throw new Error(`bench: upload answered ${warm.status}: ${warm.text}`);
    const dir = mkdtempSync(join(tmpdir(), 'bench-files-rest-'));
    const files = rounds.map((data, r) => {
      const file = join(dir, `r${r}.bin`);
      if (CURL) writeFileSync(file, data);
      return file;
    });
    const admin = await env.connect('admin', 'bench-files-rest-raw');
    const jsm = await admin.jetstreamManager();
    await jsm.streams.add({ name: 'BENCH_RAW_FILES', subjects: ['rawfile.>'], allow_direct: true, max_msgs_per_subject: 1 });
    const js = admin.jetstream();
    const direct = (jsm as unknown as { direct: { getMessage(stream: string, query: { last_by_subj: string }): Promise<unknown> } }).direct;
    const pieces = (r: number) => Array.from({ length: Math.ceil(BYTES / MiB) }, (_, k) => rounds[r].subarray(k * MiB, (k + 1) * MiB));

    const upload = async (r: number) => {
      const res = CURL
        ? await curl(['-H', `authorization: ${auth.authorization}`, '-F', `path=/bench/r${r}.bin`, '-F', `file=@${files[r]};type=application/octet-stream`, `${gateway.url}/api/v1/fs/upload`])
        : await send(`${gateway.url}/api/v1/fs/upload`, 'POST', { ...auth, 'content-type': bodies[r]!.type }, bodies[r]!.body);
      if (res.status !== 200) throw new Error(`bench: upload answered ${res.status}`);
      return 'seconds' in res ? res.seconds : undefined;
    };
    const rawPut = async (r: number) => {
      const inFlight: Promise<unknown>[] = [];
      for (const [k, p] of pieces(r).entries()) {
        inFlight.push(js.publish(`rawfile.${r}.${k}`, p));
        if (inFlight.length >= 4) await inFlight.shift();
      }
      await Promise.all(inFlight);
    };
    const download = async (r: number) => {
      const url = `${gateway.url}/api/v1/fs/download?path=${encodeURIComponent(`/bench/r${r}.bin`)}`;
      const res = CURL ? await curl(['-H', `authorization: ${auth.authorization}`, url]) : await send(url, 'GET', auth);
      if (res.status !== 200 || res.bytes !== BYTES) throw new Error(`bench: download answered ${res.status} with ${res.bytes} bytes`);
      return 'seconds' in res ? res.seconds : undefined;
    };
    // Direct gets with 3 and with 8 in flight (readChunks keeps ~8 MiB ahead); the better one is the reference.
    const rawGet = (depth: number) => async (r: number) => {
      const n = pieces(r).length;
      for (let k = 0; k < n; k += depth) {
        await Promise.all(Array.from({ length: Math.min(depth, n - k) }, (_, i) => direct.getMessage('BENCH_RAW_FILES', { last_by_subj: `rawfile.${r}.${k + i}` })));
      }
    };
    const [up, put] = await interleaved(BYTES, [upload, rawPut]);
    const [uploadRate, rawPutRate] = [up.rate, put.rate];
    const [down, get3, get8] = await interleaved(BYTES, [download, rawGet(3), rawGet(8)]);
    const [downloadRate, rawGet3, rawGet8] = [down.rate, get3.rate, get8.rate];
    const rawGetRate = Math.max(rawGet3, rawGet8);
    rmSync(dir, { recursive: true, force: true });
    const [{ rate: loopback }] = await interleaved(BYTES, [
      (r) => send(`http://127.0.0.1:${(sink.address() as AddressInfo).port}/`, 'POST', { 'content-type': 'application/octet-stream' }, rounds[r]).then(() => undefined),
    ]);

    record({ bench: BENCH, name: `upload through the gateway (POST /fs/upload, ${BYTES / MiB} MiB multipart)`, value: uploadRate, unit: 'MiB/s', target: { op: '>=', value: 80 }, raw: { name: 'js.publish of the same bytes, 1 MiB messages, 4 in flight', value: rawPutRate, unit: 'MiB/s' }, minShareOfRaw: 0.6 });
    record({ bench: BENCH, name: `download through the gateway (GET /fs/download, ${BYTES / MiB} MiB)`, value: downloadRate, unit: 'MiB/s', target: { op: '>=', value: 80 }, raw: { name: `direct get of the same bytes, 1 MiB messages, ${rawGet3 >= rawGet8 ? 3 : 8} in flight (the better of 3 and 8)`, value: rawGetRate, unit: 'MiB/s' }, minShareOfRaw: 0.6 });
    record({ bench: BENCH, name: 'loopback HTTP copy of the same bytes (reference)', value: loopback, unit: 'MiB/s' });
    // Where the upload's share of raw goes: the CPU this process spends per round (all threads).
    const perRound = `CPU ms of the gateway process per ${BYTES / MiB} MiB`;
    record({ bench: BENCH, name: `${perRound}: upload (HTTP + multipart + cut + 2× SHA-256 + publish)`, value: up.cpuMs, unit: 'ms', raw: { name: 'js.publish of the same bytes', value: put.cpuMs, unit: 'ms' } });
    record({ bench: BENCH, name: `${perRound}: download (direct gets + SHA-256 check + HTTP)`, value: down.cpuMs, unit: 'ms', raw: { name: 'direct gets of the same bytes, 8 in flight', value: get8.cpuMs, unit: 'ms' } });
    conditions(BENCH, {
      setup: `gateway (createGatewayApp, files routes, test principal) and the files service in the bench process, one nats-server, CHUNKS R1; ${ROUNDS} rounds of fresh random bytes, median; each figure and its raw reference measured in turn within every round`,
      client: CURL ? `curl ${CURL} in its own process (multipart -F for the upload, body to /dev/null for the download), timed by its own time_total (process start left out)` : 'node:http in the bench process (no curl on this machine)',
    });
    await admin.close();
  } finally {
    sink.close();
    await gateway.close().catch(() => undefined);
    await files.close().catch(() => undefined);
  }
}
