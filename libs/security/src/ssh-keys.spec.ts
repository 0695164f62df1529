import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utils } from 'ssh2';
import { parseSshPublicKey } from './ssh-keys';

describe('parseSshPublicKey', () => {
  it('reads an OpenSSH public key line and fingerprints it as ssh-keygen does', () => {
    const dir = mkdtempSync(join(tmpdir(), 'encedeus-sshkey-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'me@laptop', '-f', join(dir, 'id')]);
    const line = readFileSync(join(dir, 'id.pub'), 'utf8');

    const key = parseSshPublicKey(line);

    expect(key.algorithm).toBe('ssh-ed25519');
    expect(line.startsWith(key.publicKey + ' ')).toBe(true);
    expect(execFileSync('ssh-keygen', ['-lf', join(dir, 'id.pub')], { encoding: 'utf8' })).toContain(key.fingerprint);
  });

  it('refuses private keys and garbage with VALIDATION_FAILED', () => {
    const { private: privateKey } = utils.generateKeyPairSync('ed25519');

    for (const text of [privateKey, 'garbage', 'ssh-ed25519 AAAA', '']) {
      expect(() => parseSshPublicKey(text)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    }
  });
});
