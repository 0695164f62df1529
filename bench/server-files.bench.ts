import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Server, utils, type SFTPWrapper } from 'ssh2';
import { STACK_ADMIN } from '../services/gateway/test/stack-harness';
import { as, startFilesWorld, type FilesWorld } from '../services/gateway/test/server-files-fixture';
import { sftpBatch } from '../services/gateway/test/sftp-client';
import { conditions, median, record, secondsSince } from './lib/harness';
import { serverBackupCase } from './server-backups.case';

/**
 * Issue 11's server-file figures, each beside a raw path measured in the same rounds: SFTP upload and
 * download with the real OpenSSH `sftp` client against the agent's SFTP server (jail, permission checks,
 * disk quota, audit), beside the same client against a bare `ssh2` SFTP server on plain fs calls, and an
 * `ssh2` client against that bare server (no checks anywhere); the REST upload and download (gateway →
 * nodes → agent transfer) with curl beside a loopback HTTP copy. Cases of other features on the same
 * world (the backup of a server directory) go in SERVER_FILES_CASES.
 */
const BENCH = 'server-files';
const MiB = 1024 * 1024;
const BYTES = Number(process.env.BENCH_SERVER_FILES_MIB ?? 100) * MiB;
const ROUNDS = Number(process.env.BENCH_SERVER_FILES_ROUNDS ?? 3);
const CURL = ['/usr/bin/curl', '/bin/curl'].find((p) => existsSync(p));

/** What a case of this bench gets: the running world, one server in it and a scratch directory. */
export interface ServerFilesBenchContext {
  world: FilesWorld;
  server: { id: string; dir: string };
  scratch: string;
  bytes: number;
  rounds: number;
}

/**
 * More cases measured on the same world after the transfers, each recording its own figures (issue
 * 11's backup of a 500 MiB server directory, first and second run, belongs here).
 */
export const SERVER_FILES_CASES: { name: string; run: (ctx: ServerFilesBenchContext) => Promise<void> }[] = [serverBackupCase];

/** Median MiB/s of each path over ROUNDS rounds, the paths taken in turn within every round (a figure and its raw reference see the same machine). */
async function interleaved(bytes: number, paths: ((round: number) => Promise<number | void>)[]): Promise<number[]> {
  const rates = paths.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, path] of paths.entries()) {
      const start = process.hrtime.bigint();
      // A path may answer its own seconds (connection set-up taken out).
      const seconds = (await path(r)) ?? secondsSince(start);
      rates[k].push(bytes / MiB / seconds);
    }
  }
  return rates.map(median);
}

function curl(args: string[]): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    execFile(CURL!, ['-sS', '-o', '/dev/null', '-H', 'Expect:', '-w', '%{http_code} %{size_download}', ...args], (error, stdout) => {
      if (error) return reject(error);
      const [status, bytes] = stdout.trim().split(' ').map(Number);
      resolve({ status, bytes });
    });
  });
}

/**
 * A bare SFTP server on `ssh2` over plain fs calls in `root`: any password, no jail, no permission,
 * quota or audit. The reference our agent's SFTP server is measured against.
 */
async function bareSftpServer(root: string): Promise<{ port: number; close(): Promise<void> }> {
  const hostKey = utils.generateKeyPairSync('ed25519').private;
  const { STATUS_CODE, OPEN_MODE } = utils.sftp;
  const serve = (sftp: SFTPWrapper) => {
    const handles = new Map<number, FileHandle>();
    let next = 1;
    const handleOf = (b: Buffer) => handles.get(b.readUInt32BE(0));
    const attrs = (s: import('node:fs').Stats) => ({ mode: s.mode, uid: s.uid, gid: s.gid, size: s.size, atime: Math.floor(s.atimeMs / 1000), mtime: Math.floor(s.mtimeMs / 1000) });
    const path = (p: string) => join(root, p.replace(/^\/+/, ''));
    const fail = (reqid: number) => () => sftp.status(reqid, STATUS_CODE.FAILURE);
    sftp.on('REALPATH', (reqid, p) => sftp.name(reqid, [{ filename: p === '.' ? '/' : p, longname: p, attrs: {} as never }]));
    sftp.on('STAT', (reqid, p) => void stat(path(p)).then((s) => sftp.attrs(reqid, attrs(s)), () => sftp.status(reqid, STATUS_CODE.NO_SUCH_FILE)));
    sftp.on('LSTAT', (reqid, p) => void stat(path(p)).then((s) => sftp.attrs(reqid, attrs(s)), () => sftp.status(reqid, STATUS_CODE.NO_SUCH_FILE)));
    sftp.on('OPEN', (reqid, p, flags) => {
      const mode = flags & OPEN_MODE.WRITE ? constants.O_WRONLY | constants.O_CREAT | (flags & OPEN_MODE.TRUNC ? constants.O_TRUNC : 0) : constants.O_RDONLY;
      void open(path(p), mode, 0o644).then((h) => {
        const id = next++;
        handles.set(id, h);
        const b = Buffer.alloc(4);
        b.writeUInt32BE(id);
        sftp.handle(reqid, b);
      }, fail(reqid));
    });
    sftp.on('READ', (reqid, h, offset, length) => {
      const buffer = Buffer.alloc(Math.min(length, 64 * 1024));
      void handleOf(h)!.read(buffer, 0, buffer.length, offset).then(({ bytesRead }) => (bytesRead ? sftp.data(reqid, buffer.subarray(0, bytesRead)) : sftp.status(reqid, STATUS_CODE.EOF)), fail(reqid));
    });
    sftp.on('WRITE', (reqid, h, offset, data) => void handleOf(h)!.write(data, 0, data.length, offset).then(() => sftp.status(reqid, STATUS_CODE.OK), fail(reqid)));
    sftp.on('FSTAT', (reqid, h) => void handleOf(h)!.stat().then((s) => sftp.attrs(reqid, attrs(s)), fail(reqid)));
    sftp.on('FSETSTAT', (reqid) => sftp.status(reqid, STATUS_CODE.OK));
    sftp.on('SETSTAT', (reqid) => sftp.status(reqid, STATUS_CODE.OK));
    sftp.on('CLOSE', (reqid, h) => {
      const id = h.readUInt32BE(0);
      const handle = handles.get(id);
      handles.delete(id);
      void (handle ? handle.close() : Promise.resolve()).then(() => sftp.status(reqid, STATUS_CODE.OK), fail(reqid));
    });
    sftp.on('end', () => sftp.end());
  };
  const server = new Server({ hostKeys: [hostKey] }, (client) => {
    client.on('authentication', (ctx) => ctx.accept());
    client.on('error', () => undefined);
    client.on('session', (accept) => accept().on('sftp', (acceptSftp) => serve(acceptSftp())));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** An `ssh2` client session on the bare server (fastPut/fastGet: 64 requests of 32 KiB in flight, like OpenSSH). */
function ssh2Session(port: number): Promise<{ sftp: SFTPWrapper; end(): void }> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.on('ready', () => client.sftp((error, sftp) => (error ? reject(error) : resolve({ sftp, end: () => client.end() }))));
    client.on('error', reject);
    client.connect({ host: '127.0.0.1', port, username: 'bench', password: 'bench' });
  });
}

export async function run(): Promise<void> {
  // The files service too: the backup case stores into its chunk store.
  const world = await startFilesWorld({ files: true });
  const scratch = mkdtempSync(join(tmpdir(), 'bench-server-files-'));
  const bareRoot = join(scratch, 'bare');
  mkdirSync(bareRoot);
  let opened: Awaited<ReturnType<typeof bareSftpServer>> | undefined;
  try {
    // Inside the try: a bench that fails here still stops the world (its agent and nats-server).
    const bare = (opened = await bareSftpServer(bareRoot));
    // Room for every round's uploads (SFTP and REST, kept until the end) and the cases after them (a backup's directory).
    const server = await world.server('bench', undefined, Math.ceil((8 * BYTES) / MiB) + 2048);
    await world.stack.waitFor('node spec with sftp', async () => !!(await world.stack.http().get(`/api/v1/nodes/${world.nodeId}`).set('Authorization', as(world.admin))).body.spec?.sftp, 30_000);
    const sftp = (await world.stack.http().get(`/api/v1/servers/${server.id}`).set('Authorization', as(world.admin))).body.sftp as { port: number; username: string };
    const login = { password: STACK_ADMIN.password };
    const local = join(scratch, 'up.bin');
    writeFileSync(local, randomBytes(BYTES));
    const gateway = world.stack.gateway.url;

    /** One `sftp -b` run; its seconds without the connection and login an empty batch takes. */
    const batch = async (port: number, user: string, lines: string[], connectSeconds: number) => {
      const start = process.hrtime.bigint();
      const done = await sftpBatch(port, user, login, lines, 300_000);
      if (done.code !== 0) throw new Error(`bench: sftp ${lines.join('; ')} failed: ${done.stderr}`);
      return Math.max(0.001, secondsSince(start) - connectSeconds);
    };
    const connectTime = async (port: number, user: string) => {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const start = process.hrtime.bigint();
        await sftpBatch(port, user, login, ['pwd']);
        times.push(secondsSince(start));
      }
      return median(times);
    };
    const [oursConnect, bareConnect] = [await connectTime(sftp.port, sftp.username), await connectTime(bare.port, 'bench')];
    const session = await ssh2Session(bare.port);
    const fast = (op: 'fastPut' | 'fastGet', from: string, to: string) =>
      new Promise<void>((resolve, reject) => (session.sftp as any)[op](from, to, (error?: Error) => (error ? reject(error) : resolve())));

    const [sftpUp, bareUp, ssh2Up] = await interleaved(BYTES, [
      (r) => batch(sftp.port, sftp.username, [`put ${local} /up-${r}.bin`], oursConnect),
      (r) => batch(bare.port, 'bench', [`put ${local} /up-${r}.bin`], bareConnect),
      (r) => fast('fastPut', local, `/ssh2-${r}.bin`),
    ]);
    const [sftpDown, bareDown, ssh2Down] = await interleaved(BYTES, [
      (r) => batch(sftp.port, sftp.username, [`get /up-${r}.bin ${join(scratch, 'down-ours.bin')}`], oursConnect),
      (r) => batch(bare.port, 'bench', [`get /up-${r}.bin ${join(scratch, 'down-bare.bin')}`], bareConnect),
      (r) => fast('fastGet', `/ssh2-${r}.bin`, join(scratch, 'down-ssh2.bin')),
    ]);
    session.end();
    if (statSync(join(scratch, 'down-ours.bin')).size !== BYTES) throw new Error('bench: the SFTP download is short');

    const auth = ['-H', `authorization: Bearer ${world.admin}`];
    const restUpload = async (r: number) => {
      const res = await curl([...auth, '-F', `file=@${local};filename=rest-${r}.bin;type=application/octet-stream`, `${gateway}/api/v1/servers/${server.id}/files/upload?path=/rest`]);
      if (res.status !== 200) throw new Error(`bench: upload answered ${res.status}`);
    };
    const restDownload = async (r: number) => {
      const res = await curl([...auth, `${gateway}/api/v1/servers/${server.id}/files/download?path=/rest/rest-${r}.bin`]);
      if (res.status !== 200 || res.bytes !== BYTES) throw new Error(`bench: download answered ${res.status} with ${res.bytes} bytes`);
    };
    // A bare node:http server on loopback: takes a body and drops it, or serves the file from disk.
    const sink = createServer((req, res) => {
      if (req.method === 'POST') {
        req.resume();
        req.on('end', () => res.end('ok'));
      } else {
        res.setHeader('content-length', String(BYTES));
        createReadStream(local).pipe(res);
      }
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`;
    const hasCurl = !!CURL;
    const [restUp, loopUp] = hasCurl ? await interleaved(BYTES, [restUpload, () => curl(['-F', `file=@${local};type=application/octet-stream`, sinkUrl]).then(() => undefined)]) : [NaN, NaN];
    const [restDown, loopDown] = hasCurl ? await interleaved(BYTES, [restDownload, () => curl([sinkUrl]).then(() => undefined)]) : [NaN, NaN];
    sink.close();

    record({ bench: BENCH, name: `SFTP upload, OpenSSH sftp put to the agent (${BYTES / MiB} MiB)`, value: sftpUp, unit: 'MiB/s', raw: { name: 'the same client against a bare ssh2 SFTP server (plain fs, no checks)', value: bareUp, unit: 'MiB/s' }, minShareOfRaw: 0.5 });
    record({ bench: BENCH, name: `SFTP download, OpenSSH sftp get from the agent (${BYTES / MiB} MiB)`, value: sftpDown, unit: 'MiB/s', raw: { name: 'the same client against a bare ssh2 SFTP server', value: bareDown, unit: 'MiB/s' }, minShareOfRaw: 0.5 });
    record({ bench: BENCH, name: 'raw ssh2 loopback copy: ssh2 client fastPut to the bare ssh2 server', value: ssh2Up, unit: 'MiB/s' });
    record({ bench: BENCH, name: 'raw ssh2 loopback copy: ssh2 client fastGet from the bare ssh2 server', value: ssh2Down, unit: 'MiB/s' });
    if (hasCurl) {
      record({ bench: BENCH, name: `REST upload (POST /servers/:id/files/upload, ${BYTES / MiB} MiB multipart, gateway → agent transfer)`, value: restUp, unit: 'MiB/s', raw: { name: 'the same curl multipart POST to a bare node:http server on loopback (body dropped)', value: loopUp, unit: 'MiB/s' } });
      record({ bench: BENCH, name: `REST download (GET /servers/:id/files/download, ${BYTES / MiB} MiB)`, value: restDown, unit: 'MiB/s', raw: { name: 'curl GET of the same bytes from a bare node:http server on loopback (file from disk)', value: loopDown, unit: 'MiB/s' } });
    }
    conditions(BENCH, {
      setup: `the test stack (gateway, auth, users, nodes in the bench process; one real agent process with the process driver), ${ROUNDS} rounds, median; each figure and its raw reference taken in turn within every round`,
      sftp: `OpenSSH sftp -b through sshpass (password login); the time of an empty batch (connect + login: ours ${(oursConnect * 1000).toFixed(0)} ms, bare ${(bareConnect * 1000).toFixed(0)} ms) taken out of each transfer`,
      rest: hasCurl ? `curl ${CURL} in its own process` : 'skipped: no curl on this machine',
    });
    for (const extra of SERVER_FILES_CASES) {
      console.log(`  ${BENCH}: ${extra.name}`);
      await extra.run({ world, server, scratch, bytes: BYTES, rounds: ROUNDS });
    }
  } finally {
    await opened?.close().catch(() => undefined);
    await world.stack.stop().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  }
}
