import { createCipheriv, createHash, type Hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';

const MiB = 1024 * 1024;

/** Resident memory of a process, from /proc (Linux). */
export function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) * 1024;
}

/** Peak RSS of `pid` while `work` runs, sampled every `everyMs`, and once more at the end. */
export async function peakRss<T>(pid: number, work: () => Promise<T>, everyMs = 25): Promise<{ result: T; peak: number }> {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {}
  }, everyMs);
  try {
    return { result: await work(), peak: Math.max(peak, rssBytes(pid)) };
  } finally {
    clearInterval(timer);
  }
}

/**
 * `bytes` of reproducible pseudo-random data (AES-256-CTR of zeros, so no chunk repeats), produced
 * 1 MiB at a time and hashed as it goes, so the test never holds the file either.
 */
export function* pseudoRandom(bytes: number, seed: string, hash: Hash): Generator<Buffer> {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16));
  const zeros = Buffer.alloc(MiB);
  for (let left = bytes; left > 0; left -= MiB) {
    const block = cipher.update(left >= MiB ? zeros : zeros.subarray(0, left));
    hash.update(block);
    yield block;
  }
}

/** A streamed GET; resolves with the status, byte count and SHA-256 of the body. */
export function downloadHash(url: URL, token: string): Promise<{ status: number; bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { headers: { Authorization: `Bearer ${token}` } }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, sha256: hash.digest('hex') }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}
