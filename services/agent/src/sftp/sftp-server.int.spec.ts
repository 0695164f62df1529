import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SFTP_HOST_KEY_FILE, SftpServer } from './sftp-server';

/** The host key OpenSSH sees (ssh-keyscan) on a server started on `dataDir`. */
async function hostKeyOf(dataDir: string): Promise<string> {
  const server = new SftpServer({ dataDir, host: '127.0.0.1', port: 0, recheckMs: 60_000, nodeId: () => 'n', commands: () => undefined, servers: () => [], serverDir: () => dataDir, log: () => undefined });
  await server.start();
  try {
    // Asynchronously: the server answers on this process's event loop.
    const { stdout } = await promisify(execFile)('ssh-keyscan', ['-t', 'ed25519', '-p', String(server.port), '127.0.0.1'], { encoding: 'utf8' });
    return stdout.trim().split(' ').slice(1).join(' ');
  } finally {
    await server.stop();
  }
}

describe('SftpServer host key', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'encedeus-sftp-hostkey-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('is generated once (ed25519, 0600 in the data dir) and kept across restarts', async () => {
    const first = await hostKeyOf(dataDir);
    const second = await hostKeyOf(dataDir);

    expect(first).toMatch(/^ssh-ed25519 AAAA/);
    expect(second).toBe(first);
    expect(statSync(join(dataDir, SFTP_HOST_KEY_FILE)).mode & 0o777).toBe(0o600);
  });
});
