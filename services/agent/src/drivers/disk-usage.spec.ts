import { link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { directorySize } from './disk-usage';

describe('directorySize', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'encedeus-du-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('sums allocated blocks of nested files and counts a hard link once', async () => {
    await mkdir(join(dir, 'world'));
    await writeFile(join(dir, 'world', 'region.dat'), Buffer.alloc(1024 * 1024, 1));
    await link(join(dir, 'world', 'region.dat'), join(dir, 'again.dat'));

    const size = await directorySize(dir);

    expect(size).toBeGreaterThanOrEqual(1024 * 1024);
    expect(size).toBeLessThan(2 * 1024 * 1024);
  });

  it('reports 0 for a missing directory', async () => {
    expect(await directorySize(join(dir, 'missing'))).toBe(0);
  });
});
