#!/usr/bin/env node
/**
 * `npm run openapi:client-check` (CI, issue 14): a TypeScript client generated from the gateway's
 * OpenAPI document compiles against examples/api-client/example.ts.
 *   1. dumps the document from a preview gateway app (no NATS or Postgres needed);
 *   2. validates it with @apidevtools/swagger-parser;
 *   3. generates types with openapi-typescript;
 *   4. type-checks the example (strict) with `encedeus-api` mapped to the generated file.
 * Everything is written to a temporary directory; no tracked file is touched.
 * Prints `openapi-client-check: 1 passed, 0 failed` (or `0 passed, 1 failed`) and exits non-zero on failure.
 */
const { execFileSync } = require('node:child_process');
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const root = resolve(__dirname, '../..');
const example = join(root, 'examples/api-client/example.ts');
const bin = (name) => join(root, 'node_modules/.bin', name);
const keep = process.argv.includes('--keep');

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'encedeus-openapi-'));
  try {
    const documentFile = join(dir, 'openapi.json');
    const typesFile = join(dir, 'encedeus-api.d.ts');
    const run = (file, args) => execFileSync(file, args, { cwd: root, stdio: 'inherit', env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' } });

    run(bin('ts-node'), ['-r', 'tsconfig-paths/register', '--transpile-only', 'infra/scripts/openapi-dump.ts', documentFile]);
    const SwaggerParser = require('@apidevtools/swagger-parser');
    await SwaggerParser.validate(documentFile);
    console.log('openapi-client-check: the document validates');

    run(bin('openapi-typescript'), [documentFile, '-o', typesFile, '--silent']);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'ES2022',
          module: 'commonjs',
          moduleResolution: 'node',
          lib: ['ES2022', 'DOM'],
          types: ['node'],
          typeRoots: [join(root, 'node_modules/@types')],
          skipLibCheck: false,
          noUncheckedIndexedAccess: true,
          baseUrl: dir,
          paths: { 'encedeus-api': [typesFile] },
        },
        files: [example, typesFile],
      }),
    );
    run(bin('tsc'), ['-p', join(dir, 'tsconfig.json')]);
    console.log('openapi-client-check: examples/api-client/example.ts compiles against the generated client');
    console.log('openapi-client-check: 1 passed, 0 failed');
  } finally {
    if (keep) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error && error.message ? error.message : error);
  console.log('openapi-client-check: 0 passed, 1 failed');
  process.exit(1);
});
