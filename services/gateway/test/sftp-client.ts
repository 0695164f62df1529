import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What one run of OpenSSH's `sftp` printed and how it ended. */
export interface SftpRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** How to log in: an Encedeus password (through `sshpass`) or a private key file. */
export type SftpLogin = { password: string } | { keyFile: string };

// `-b` turns BatchMode on, which disables password prompts: password runs pass `-o BatchMode=no` BEFORE `-b` (the first value wins) for sshpass to answer.
const COMMON = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=20'];

/** The argv of OpenSSH's `sftp` (behind `sshpass -e` for a password) for `user` on 127.0.0.1:`port`. */
function argv(port: number, user: string, login: SftpLogin, batch?: string): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  const batchArgs = batch ? ['-b', batch] : [];
  if ('password' in login) {
    return {
      command: 'sshpass',
      args: ['-e', 'sftp', '-o', 'BatchMode=no', ...batchArgs, '-P', String(port), ...COMMON, '-o', 'PreferredAuthentications=password', '-o', 'PubkeyAuthentication=no', '-o', 'NumberOfPasswordPrompts=1', `${user}@127.0.0.1`],
      env: { ...process.env, SSHPASS: login.password },
    };
  }
  return {
    command: 'sftp',
    args: [...batchArgs, '-P', String(port), ...COMMON, '-o', 'PreferredAuthentications=publickey', '-o', 'PasswordAuthentication=no', '-o', 'IdentitiesOnly=yes', '-i', login.keyFile, `${user}@127.0.0.1`],
    env: process.env,
  };
}

/**
 * Runs the real OpenSSH `sftp` client in batch mode (`-b`): every line of `commands` in turn; a line
 * starting with `-` may fail without ending the batch (sftp's own rule).
 */
export function sftpBatch(port: number, user: string, login: SftpLogin, commands: string[], timeoutMs = 30_000): Promise<SftpRun> {
  const dir = mkdtempSync(join(tmpdir(), 'encedeus-sftp-batch-'));
  const batch = join(dir, 'batch');
  writeFileSync(batch, commands.join('\n') + '\n');
  const { command, args, env } = argv(port, user, login, batch);
  return run(spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }), timeoutMs);
}

/** An interactive `sftp` whose commands are written to its stdin (a session kept open). */
export function sftpInteractive(port: number, user: string, login: SftpLogin): { child: ChildProcess; send(line: string): void; output(): string; done: Promise<SftpRun> } {
  const { command, args, env } = argv(port, user, login);
  const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  // A session the server ended closes sftp's stdin: a request written then fails with EPIPE, which is
  // what the revocation tests wait for (the process ends), not an error of the test.
  child.stdin!.on('error', () => undefined);
  const send = (line: string) => {
    if (child.exitCode === null && child.signalCode === null && child.stdin!.writable) child.stdin!.write(line + '\n');
  };
  return { child, send, output: () => out, done: run(child, 120_000) };
}

function run(child: ChildProcess, timeoutMs: number): Promise<SftpRun> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c) => (stdout += c));
  child.stderr!.on('data', (c) => (stderr += c));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
