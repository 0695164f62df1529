import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Bytes a directory tree occupies on disk (like `du -s --bytes` on allocated blocks), hard links counted once.
 * Symlinks are not followed; entries that vanish during the walk are skipped. A missing directory is 0.
 */
export async function directorySize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (path: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const child = join(path, entry.name);
      try {
        const stat = await lstat(child);
        const key = `${stat.dev}:${stat.ino}`;
        if (stat.nlink > 1 && seen.has(key)) continue;
        if (stat.nlink > 1) seen.add(key);
        total += stat.blocks * 512;
        if (stat.isDirectory()) await walk(child);
      } catch {
        // deleted while walking
      }
    }
  };
  await walk(dir);
  return total;
}
