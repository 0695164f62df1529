import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Request } from 'express';
import { EnrollLimiter } from './enroll-limiter';
import { installScript, isSafeGatewayUrl } from './install-script';
import { gatewayPublicUrl, installLine } from './public-url';

const request = (host: string | undefined, protocol = 'http') => ({ protocol, get: (name: string) => (name.toLowerCase() === 'host' ? host : undefined) }) as unknown as Request;

describe('agent install (issue 14)', () => {
  it('limits failed enrollments per address and in total, per window', () => {
    let now = 0;
    const limiter = new EnrollLimiter({ perAddress: 2, total: 3, windowMs: 60_000 }, () => now);
    limiter.check('a');
    limiter.failed('a');
    limiter.failed('a');
    expect(() => limiter.check('a')).toThrow(expect.objectContaining({ code: 'RATE_LIMITED', details: { retryAfterSeconds: 60 } }));
    limiter.check('b');
    limiter.failed('b');
    expect(() => limiter.check('c')).toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
    now = 60_000;
    expect(() => limiter.check('a')).not.toThrow();
  });

  it('embeds only a plain http(s) URL into install.sh, and the script parses as POSIX sh', () => {
    for (const bad of ["http://x'; rm -rf /; '", 'http://x/$(id)', 'ftp://x', 'http://x y', 'http://x/`id`', 'http://x"']) {
      expect(isSafeGatewayUrl(bad)).toBe(false);
      expect(() => installScript(bad)).toThrow();
    }
    const script = installScript('https://panel.example.com:8443/encedeus');
    expect(script).toContain("GATEWAY='https://panel.example.com:8443/encedeus'");
    expect(script).not.toMatch(/\beval\b/);
    const dir = mkdtempSync(join(tmpdir(), 'encedeus-install-sh-'));
    try {
      writeFileSync(join(dir, 'install.sh'), script);
      for (const shell of ['sh', 'dash']) {
        try {
          execFileSync(shell, ['-n', join(dir, 'install.sh')]);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a download that does not match the checksum the script carries, before unpacking anything', async () => {
    expect(() => installScript('http://127.0.0.1:1', 'not-a-checksum')).toThrow();
    const served = Buffer.from('an altered bundle');
    const server = createServer((_req, res) => res.end(served));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'encedeus-install-sum-'));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const script = installScript(url, createHash('sha256').update('the real bundle').digest('hex'));
      expect(script).toContain(`BUNDLE_SHA256='${createHash('sha256').update('the real bundle').digest('hex')}'`);
      const prefix = join(dir, 'opt');
      const run = await new Promise<{ code: number | null; err: string }>((resolve) => {
        const sh = spawn('sh', ['-s', '--', '--prefix', prefix, '--no-service', '--token', 'enc_0123abcd_' + 'A'.repeat(32)], { cwd: dir, env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: dir, TMPDIR: dir } });
        let err = '';
        sh.stderr.on('data', (c) => (err += c));
        sh.on('exit', (code) => resolve({ code, err }));
        sh.stdin.end(script);
      });
      expect(run.code).toBe(1);
      expect(run.err).toContain(`does not match the gateway's checksum (got ${createHash('sha256').update(served).digest('hex')})`);
      expect(existsSync(prefix)).toBe(false);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the gateway from ENCEDEUS_PUBLIC_URL, else from the request, never from a Host a shell would read', () => {
    expect(gatewayPublicUrl(request('panel.example.com'), 'https://panel.example.com/')).toBe('https://panel.example.com');
    expect(gatewayPublicUrl(request('10.0.0.5:8080'), '')).toBe('http://10.0.0.5:8080');
    expect(gatewayPublicUrl(request('h', 'https'), '')).toBe('https://h');
    expect(gatewayPublicUrl(request("x';id;'"), '')).toBe('http://localhost:8080');
    expect(gatewayPublicUrl(request(undefined), '')).toBe('http://localhost:8080');
    expect(installLine(request('10.0.0.5:8080'), 'enc_0123abcd_' + 'A'.repeat(32))).toBe(`curl -fsSL ${process.env.ENCEDEUS_PUBLIC_URL ?? 'http://10.0.0.5:8080'}/agent/install.sh | sh -s -- --token enc_0123abcd_${'A'.repeat(32)}`);
  });
});
