import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { type FileHandle, open as openFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { directorySize } from '../drivers/disk-usage';
import { allocatedBytes, DiskQuota, DiskQuotas, QuotaWriter } from './disk-quota';
import { compress, decompress } from './server-archives';
import { ServerFiles } from './server-files';

const MIB = 1024 * 1024;
const codeOf = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => e.code as string);

/** A tar.gz of one file whose header declares `size` bytes (the body is that many zeros). */
async function archiveOf(name: string, size: number): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => tar.on('end', resolve));
  await new Promise<void>((resolve, reject) => tar.entry({ name, type: 'file', size }, Buffer.alloc(size), (err) => (err ? reject(err) : resolve())));
  tar.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

describe('DiskQuota', () => {
  it('refuses what would pass the limit and counts what it takes', () => {
    const quota = new DiskQuota(10, 4);

    quota.take(6);
    const refused = (() => {
      try {
        quota.take(1);
        return 'ok';
      } catch (e) {
        return (e as { code: string }).code;
      }
    })();

    expect(refused).toBe('DISK_QUOTA_EXCEEDED');
    expect(quota.usedBytes).toBe(10);
  });

  it('has no limit at 0', () => {
    const quota = new DiskQuota(0, 123);

    quota.take(10 ** 12);

    expect(quota.availableBytes).toBe(Infinity);
  });

  it('keeps what was added during a recount', () => {
    const quota = new DiskQuota(0, 100);
    const mark = quota.mark();

    quota.add(50);
    quota.recounted(1000, mark);

    expect(quota.usedBytes).toBe(1050);
  });
});

describe('writes against a server disk limit (a real directory)', () => {
  let base: string;
  let root: string;
  let quotas: DiskQuotas;
  let limitMb: number;
  const open = async () => ServerFiles.open(root, await quotas.of('s1'));

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'encedeus-quota-'));
    root = join(base, 'server');
    mkdirSync(root);
    limitMb = 4;
    quotas = new DiskQuotas({ limitMb: () => limitMb, dir: () => root });
  });

  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('counts the directory once by a walk, then moves with each write and delete', async () => {
    writeFileSync(join(root, 'existing.bin'), Buffer.alloc(MIB, 1));
    const walked = await directorySize(root);
    const quota = await quotas.of('s1');
    const counted = quota.usedBytes;
    const files = await open();

    await files.write('/a.txt', Buffer.alloc(256 * 1024, 2).toString('base64'));
    const afterWrite = quota.usedBytes;
    await files.delete(['/existing.bin']);

    expect(counted).toBe(walked);
    expect(counted).toBeGreaterThanOrEqual(MIB);
    expect(afterWrite - counted).toBeGreaterThanOrEqual(256 * 1024);
    expect(afterWrite - counted).toBeLessThan(256 * 1024 + 64 * 1024);
    expect(quota.usedBytes).toBeLessThanOrEqual(afterWrite - MIB);
    expect(Math.abs(quota.usedBytes - (await directorySize(root)))).toBeLessThan(64 * 1024);
  });

  it('settles a write still in flight by what it lands: an upload aborted mid-stream frees no more than it held', async () => {
    const quota = new DiskQuota(0, MIB);
    const handle = await openFile(join(root, '.upload.part'), 'wx');
    // Concurrent chunks of one upload: this write reaches the file only after a stat already begun
    // (a chunk still in the thread pool when a refused one ends the transfer and settles).
    let statting: Promise<unknown> = Promise.resolve();
    const slowWrites = {
      stat: () => (statting = handle.stat()),
      write: async (...args: Parameters<FileHandle['write']>) => {
        await null;
        await statting;
        return handle.write(...args);
      },
    } as unknown as FileHandle;
    const writer = await QuotaWriter.of(quota, slowWrites);

    const writing = writer.write(Buffer.alloc(256 * 1024, 1), 0);
    await writer.settle();
    await writing;
    const held = allocatedBytes(await handle.stat());
    await handle.close();

    expect(held).toBeGreaterThanOrEqual(256 * 1024);
    // Removing the file (the jail subtracts its blocks) must bring the count back to where it was.
    expect(quota.usedBytes).toBe(MIB + held);
  });

  it('refuses a write past the limit before creating the file (413 DISK_QUOTA_EXCEEDED)', async () => {
    limitMb = 1;
    const files = await open();
    await files.write('/first.bin', Buffer.alloc(400 * 1024, 1).toString('base64'));
    await files.write('/second.bin', Buffer.alloc(400 * 1024, 1).toString('base64'));

    const third = await codeOf(files.write('/third.bin', Buffer.alloc(400 * 1024, 1).toString('base64')));

    expect(third).toBe('DISK_QUOTA_EXCEEDED');
    expect(existsSync(join(root, 'third.bin'))).toBe(false);
  });

  it('refuses a directory when no block is left, and counts a deleted tree free again', async () => {
    limitMb = 1;
    // 1 MiB less 2 KiB, written by the server's own process: its blocks fill the whole MiB (counted by the first walk).
    writeFileSync(join(root, 'fill.bin'), Buffer.alloc(MIB - 2048, 1));
    const files = await open();
    const quota = await quotas.of('s1');

    const refused = await codeOf(files.mkdir('/more'));
    await files.delete(['/fill.bin']);
    const freed = quota.usedBytes;
    await files.mkdir('/tree/a');
    await files.write('/tree/a/f.bin', Buffer.alloc(64 * 1024, 1).toString('base64'));
    const withTree = quota.usedBytes;
    await files.delete(['/tree']);

    expect(refused).toBe('DISK_QUOTA_EXCEEDED');
    expect(existsSync(join(root, 'more'))).toBe(false);
    expect(freed).toBe(0);
    expect(withTree).toBeGreaterThanOrEqual(64 * 1024);
    expect(quota.usedBytes).toBe(0);
  });

  it('lets a sparse file in (it holds almost nothing) but never a dense copy of it, and leaves no partial copy', async () => {
    // The server's own process can make a sparse file of any size: only its blocks are on disk.
    writeFileSync(join(root, 'sparse.img'), '');
    truncateSync(join(root, 'sparse.img'), 64 * MIB);
    const quota = await quotas.of('s1');
    const before = quota.usedBytes;
    const files = await open();

    const copied = await codeOf(files.copy('/sparse.img'));

    expect(before).toBeLessThan(MIB);
    expect(copied).toBe('DISK_QUOTA_EXCEEDED');
    expect(readdirSync(root).sort()).toEqual(['sparse.img']);
    expect(Math.abs(quota.usedBytes - before)).toBeLessThan(64 * 1024);
  });

  it('refuses an archive that declares more than fits before extracting anything', async () => {
    writeFileSync(join(root, 'big.tar.gz'), await archiveOf('big.bin', 5 * MIB));
    const files = await open();

    const code = await codeOf(decompress(files.serverJail, '/big.tar.gz'));

    expect(code).toBe('DISK_QUOTA_EXCEEDED');
    expect(readdirSync(root)).toEqual(['big.tar.gz']);
  });

  it('stops an archive being made at the limit and removes it', async () => {
    limitMb = 3;
    // Random bytes do not compress: the archive is as large as its files.
    writeFileSync(join(root, 'noise.bin'), randomBytes(2 * MIB));
    const files = await open();

    const code = await codeOf(compress(files.serverJail, ['/noise.bin'], 'noise.tar.gz'));

    expect(code).toBe('DISK_QUOTA_EXCEEDED');
    expect(readdirSync(root)).toEqual(['noise.bin']);
  });
});
