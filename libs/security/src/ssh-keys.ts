import { createHash } from 'node:crypto';
import { utils } from 'ssh2';
import { ValidationError } from '@encedeus/contracts';

/** An SSH public key as Encedeus keeps it (SFTP logins, issue 11). */
export interface SshPublicKey {
  /** The key type, e.g. `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`. */
  algorithm: string;
  /** OpenSSH's one-line form without the comment: `<type> <base64 blob>`. */
  publicKey: string;
  /** `SHA256:<base64, unpadded>` of the blob, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

/** OpenSSH's fingerprint of a public key blob: `SHA256:` and the unpadded base64 of its SHA-256. */
export function sshKeyFingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/**
 * Parses one OpenSSH public key line (`ssh-ed25519 AAAA… comment`) with ssh2. Private keys (even
 * pasted by mistake, never stored), several keys, and anything unparsable are 422 on `public_key`.
 */
export function parseSshPublicKey(text: string): SshPublicKey {
  const refuse = (message: string) => new ValidationError(message, [{ path: 'public_key', message }]);
  if (/PRIVATE KEY/.test(text)) throw refuse('This is a private key; paste the public key (the .pub file)');
  const parsed = utils.parseKey(text.trim());
  if (parsed instanceof Error || Array.isArray(parsed)) throw refuse('Not an SSH public key in OpenSSH format (<type> <base64> [comment])');
  if (parsed.isPrivateKey()) throw refuse('This is a private key; paste the public key (the .pub file)');
  const blob = parsed.getPublicSSH();
  return { algorithm: parsed.type, publicKey: `${parsed.type} ${blob.toString('base64')}`, fingerprint: sshKeyFingerprint(blob) };
}
