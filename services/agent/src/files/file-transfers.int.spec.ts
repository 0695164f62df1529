import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator, headers, JSONCodec, type NatsConnection } from 'nats';
import { SERVER_FILE_TRANSFER } from '@encedeus/contracts';
import { inboxPrefixFromCreds } from '@encedeus/messaging';
import { startNats, type NatsHandle } from '@encedeus/testing';
import { DiskQuota } from './disk-quota';
import { FileTransfers } from './file-transfers';
import { ServerJail } from './server-jail';

const json = JSONCodec<unknown>();
const NODE = 'node-1';
const KIB = 1024;

/** One transfer request as the gateway sends it: the answer's bytes, or `CODE` of its error header. */
async function ask(nc: NatsConnection, transfer: string, op: 'read' | 'write' | 'close', body: Uint8Array, offset?: number): Promise<Buffer | string> {
  const h = headers();
  if (offset !== undefined) h.set(SERVER_FILE_TRANSFER.offsetHeader, String(offset));
  const reply = await nc.request(SERVER_FILE_TRANSFER.subject(NODE, transfer, op), body, { timeout: 5000, headers: h });
  const error = reply.headers?.get(SERVER_FILE_TRANSFER.errorHeader);
  return error ? (JSON.parse(error).code as string) : Buffer.from(reply.data);
}

/** Issue 11: the agent's side of streamed transfers, over a real nats-server, on a real directory. */
describe('FileTransfers (agent.<node>.xfer.<transfer>.<op>)', () => {
  let nats: NatsHandle;
  let nc: NatsConnection;
  let base: string;
  let root: string;
  let transfers: FileTransfers;

  beforeAll(async () => {
    nats = await startNats();
    const creds = await nats.creds('admin');
    nc = await connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), inboxPrefix: inboxPrefixFromCreds(creds) });
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  beforeEach(async () => {
    base = mkdtempSync(join(tmpdir(), 'encedeus-xfer-'));
    root = join(base, 'server');
    mkdirSync(root);
    transfers = new FileTransfers(NODE, 300);
    transfers.listen(nc);
    await nc.flush();
  });

  afterEach(async () => {
    await transfers.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('reads a file in chunks at the offsets asked', async () => {
    const bytes = randomBytes(300 * KIB);
    writeFileSync(join(root, 'f.bin'), bytes);
    const opened = await transfers.openRead(await ServerJail.of(root), 's1', '/f.bin');

    const first = await ask(nc, opened.transfer, 'read', json.encode({ offset: 0, length: 256 * KIB }));
    const rest = await ask(nc, opened.transfer, 'read', json.encode({ offset: 256 * KIB, length: 256 * KIB }));
    const tooLong = await ask(nc, opened.transfer, 'read', json.encode({ offset: 0, length: 1024 * KIB }));

    expect(opened.size).toBe(bytes.length);
    expect(Buffer.concat([first as Buffer, rest as Buffer]).equals(bytes)).toBe(true);
    expect(tooLong).toBe('VALIDATION_FAILED');
  });

  it('writes chunks into a hidden temporary file and renames it over the target at the commit', async () => {
    writeFileSync(join(root, 'old.bin'), 'replaced');
    const jail = await ServerJail.of(root);
    const { transfer } = await transfers.openWrite(jail, 's1', '/old.bin');
    const a = randomBytes(100 * KIB);
    const b = randomBytes(50 * KIB);

    // Out of order on purpose: positional writes.
    expect(await ask(nc, transfer, 'write', b, a.length)).toEqual(Buffer.alloc(0));
    expect(await ask(nc, transfer, 'write', a, 0)).toEqual(Buffer.alloc(0));
    const during = readdirSync(root).sort();
    await transfers.commitWrite('s1', transfer, '/old.bin', a.length + b.length);

    expect(during).toEqual([`.encedeus-upload-${transfer}`, 'old.bin']);
    expect(readdirSync(root)).toEqual(['old.bin']);
    expect(readFileSync(join(root, 'old.bin')).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('refuses a commit of fewer bytes than announced (409) and removes the temporary file', async () => {
    const { transfer } = await transfers.openWrite(await ServerJail.of(root), 's1', '/x.bin');
    await ask(nc, transfer, 'write', randomBytes(10 * KIB), 0);

    const code = await transfers.commitWrite('s1', transfer, '/x.bin', 20 * KIB).then(() => 'ok', (e) => e.code);

    expect(code).toBe('CONFLICT');
    expect(readdirSync(root)).toEqual([]);
  });

  it('refuses a chunk past the disk limit, removes the upload, and answers the same to chunks still on their way', async () => {
    const jail = await ServerJail.of(root, new DiskQuota(64 * KIB, 0));
    const { transfer } = await transfers.openWrite(jail, 's1', '/big.bin');

    const first = await ask(nc, transfer, 'write', randomBytes(48 * KIB), 0);
    const second = await ask(nc, transfer, 'write', randomBytes(48 * KIB), 48 * KIB);
    const third = await ask(nc, transfer, 'write', randomBytes(1 * KIB), 96 * KIB);

    expect(first).toEqual(Buffer.alloc(0));
    expect([second, third]).toEqual(['DISK_QUOTA_EXCEEDED', 'DISK_QUOTA_EXCEEDED']);
    expect(readdirSync(root)).toEqual([]);
    expect(jail.quota.usedBytes).toBeLessThan(8 * KIB);
  });

  it('refuses an announced size that does not fit before making anything', async () => {
    const jail = await ServerJail.of(root, new DiskQuota(64 * KIB, 0));

    const code = await transfers.openWrite(jail, 's1', '/big.bin', 65 * KIB).then(() => 'ok', (e) => e.code);

    expect(code).toBe('DISK_QUOTA_EXCEEDED');
    expect(readdirSync(root)).toEqual([]);
  });

  it('aborts an upload nobody touched for the idle time, and one that is closed', async () => {
    const jail = await ServerJail.of(root);
    const idle = await transfers.openWrite(jail, 's1', '/idle.bin');
    const closed = await transfers.openWrite(jail, 's1', '/closed.bin');
    await ask(nc, idle.transfer, 'write', randomBytes(KIB), 0);

    await ask(nc, closed.transfer, 'close', new Uint8Array());
    await new Promise((r) => setTimeout(r, 600));
    const late = await ask(nc, idle.transfer, 'write', randomBytes(KIB), KIB);

    expect(late).toBe('NOT_FOUND');
    expect(readdirSync(root)).toEqual([]);
    expect(existsSync(join(root, 'idle.bin'))).toBe(false);
  });

  it('never lets a read transfer write, nor an unknown transfer do anything', async () => {
    writeFileSync(join(root, 'r.bin'), 'r');
    const opened = await transfers.openRead(await ServerJail.of(root), 's1', '/r.bin');

    const write = await ask(nc, opened.transfer, 'write', Buffer.from('x'), 0);
    const unknown = await ask(nc, '0'.repeat(32), 'read', json.encode({ offset: 0, length: 1 }));

    expect([write, unknown]).toEqual(['BAD_REQUEST', 'NOT_FOUND']);
    expect(readFileSync(join(root, 'r.bin'), 'utf8')).toBe('r');
  });
});
