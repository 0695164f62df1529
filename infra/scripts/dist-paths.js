// Preload of a compiled service (`node -r infra/scripts/dist-paths.js dist/services/<name>/src/main.js`):
// maps `@encedeus/*` onto the compiled libs under dist/, from the same `paths` as tsconfig.json.
const { join } = require('node:path');

const root = join(__dirname, '..', '..');
const { paths } = require(join(root, 'tsconfig.json')).compilerOptions;
const compiled = Object.fromEntries(Object.entries(paths).map(([name, targets]) => [name, targets.map((t) => t.replace(/\.ts$/, '.js'))]));
require(join(root, 'node_modules', 'tsconfig-paths')).register({ baseUrl: join(root, 'dist'), paths: compiled });
