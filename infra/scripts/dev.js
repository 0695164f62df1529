#!/usr/bin/env node
// `npm run dev`: installs what is missing, then hands over to dev.ts (TypeScript, run by ts-node),
// which compiles the services into dist/ and runs them as JavaScript.
const { existsSync } = require('node:fs');
const { execSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..', '..');
if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
  console.log('[dev] installing dependencies (npm ci)…');
  try {
    execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
  } catch {
    // npm 11 may reject its own lockfile (other platforms' optional packages missing); install still honours it.
    execSync('npm install --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
  }
}
require(join(root, 'node_modules', 'ts-node')).register({ transpileOnly: true, project: join(root, 'tsconfig.json') });
require(join(root, 'node_modules', 'tsconfig-paths')).register({
  baseUrl: root,
  paths: require(join(root, 'tsconfig.json')).compilerOptions.paths,
});
require('./dev.ts').main().catch((error) => {
  console.error('[dev] failed:', error);
  process.exit(1);
});
