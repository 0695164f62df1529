import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertChunkBytes, type ChunkStore } from '@encedeus/chunks';
import { backupManifestSchema } from '@encedeus/contracts';
import { restoreBackup, takeBackup, type BackupCache, type BackupCalls } from './server-backups';

/** The files service as the agent sees it, over a Map: which chunks are missing, puts (checked), gets, the completed manifest. */
function fakeFiles(): BackupCalls & { chunks: Map<string, Buffer>; completed: { manifest: { hash: string; size: number }[] }[]; puts: number } {
  const chunks = new Map<string, Buffer>();
  const completed: { manifest: { hash: string; size: number }[] }[] = [];
  const fake = {
    chunks,
    completed,
    puts: 0,
    async call<T>(verb: string, data: any): Promise<T> {
      if (verb === 'backup_missing') return { missing: (data.hashes as string[]).filter((h) => !chunks.has(h)) } as T;
      if (verb === 'backup_complete') completed.push(data);
      return {} as T;
    },
    async put(hash: string, data: Uint8Array) {
      assertChunkBytes(hash, data, 'fake put');
      chunks.set(hash, Buffer.from(data));
      fake.puts++;
      return {};
    },
    asStore: () => ({ get: async (hash: string) => chunks.get(hash) }) as unknown as ChunkStore,
  };
  return fake;
}

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('takeBackup / restoreBackup (agent side, fake files service)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-backup-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('sends only missing chunks, skips unchanged files by their stat, and reads a file again when its chunks were collected', async () => {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'world'), { recursive: true });
    writeFileSync(join(src, 'world/a.bin'), randomBytes(3 * 1024 * 1024));
    writeFileSync(join(src, 'b.txt'), 'hello\n');
    symlinkSync('/etc', join(src, 'out'));
    const files = fakeFiles();
    let cache: BackupCache | undefined;
    const keep = { get: () => cache, set: (next: BackupCache) => (cache = next) };

    const first = await takeBackup(src, files, () => undefined, undefined, keep);
    const putsAfterFirst = files.puts;
    const second = await takeBackup(src, files, () => undefined, undefined, keep);
    const [aChunk] = cache!.get('world/a.bin')!.chunks;
    files.chunks.delete(aChunk.hash);
    const third = await takeBackup(src, files, () => undefined, undefined, keep);

    expect(first).toMatchObject({ files: 2, size: 3 * 1024 * 1024 + 6, reread: 0 });
    expect(second).toMatchObject({ files: 2, sent: 0, reread: 0 });
    expect(files.puts).toBe(putsAfterFirst + 1);
    expect(third).toMatchObject({ files: 2, reread: 1, sent: aChunk.size });
    const manifestParts = files.completed[2].manifest.map((c) => files.chunks.get(c.hash)!);
    const manifest = backupManifestSchema.parse(JSON.parse(Buffer.concat(manifestParts).toString('utf8')));
    expect(manifest.entries.map((e) => `${e.type} ${e.path}`)).toEqual(['file b.txt', 'dir world', 'file world/a.bin']);
  });

  it('restores the tree: extra files go, changed ones come back', async () => {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'world'), { recursive: true });
    writeFileSync(join(src, 'world/a.bin'), randomBytes(200_000));
    writeFileSync(join(src, 'b.txt'), 'hello\n');
    const files = fakeFiles();
    await takeBackup(src, files, () => undefined);
    const before = { a: sha(join(src, 'world/a.bin')), b: sha(join(src, 'b.txt')) };
    writeFileSync(join(src, 'b.txt'), 'changed\n');
    writeFileSync(join(src, 'world/extra'), 'x');

    const done = await restoreBackup(src, files, files.completed[0].manifest, null, () => undefined);

    expect(done).toEqual({ files: 2, bytes: 200_006 });
    expect({ a: sha(join(src, 'world/a.bin')), b: sha(join(src, 'b.txt')) }).toEqual(before);
    expect(() => readFileSync(join(src, 'world/extra'))).toThrow();
  });
});
