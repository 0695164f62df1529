#!/usr/bin/env node
// `npm run build:agent`: the node agent (Skyhook) as a standalone bundle, `build/agent/encedeus-agent.tgz`
// (issue 14). Nothing here downloads anything and no tracked file is written:
//   1. tsc compiles services/agent/src/main.ts and what it imports (the @encedeus/* libs through
//      tsconfig paths) into build/agent/tsc;
//   2. the require graph is walked from main.js: only the files the agent can load are kept, and each
//      `@encedeus/<lib>` import becomes a slim module that loads just the lib files whose exports the
//      agent uses (the libs' index files also pull the services' Nest and TypeORM code, which the
//      agent never runs);
//   3. the npm packages those files require, and their dependencies, are copied from node_modules;
//   4. bin/encedeus-agent + package.json, packed as encedeus-agent/ in encedeus-agent.tgz.
// Output: build/agent/encedeus-agent.tgz and .sha256 (ENCEDEUS_AGENT_BUILD_DIR moves build/agent).
'use strict';
const { execFileSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const { builtinModules } = require('node:module');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const outDir = path.resolve(process.env.ENCEDEUS_AGENT_BUILD_DIR || path.join(root, 'build', 'agent'));
const tscOut = path.join(outDir, 'tsc');
const stage = path.join(outDir, 'stage', 'encedeus-agent');
const tgz = path.join(outDir, 'encedeus-agent.tgz');
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const log = (line) => process.stderr.write(`[build:agent] ${line}\n`);

function compile() {
  fs.rmSync(tscOut, { recursive: true, force: true });
  const tsconfig = path.join(outDir, 'tsconfig.json');
  fs.mkdirSync(outDir, { recursive: true });
  // Only main.ts and what it imports; no source maps, no declarations, no jest types.
  fs.writeFileSync(
    tsconfig,
    JSON.stringify(
      {
        extends: path.join(root, 'tsconfig.json'),
        compilerOptions: { outDir: tscOut, rootDir: root, baseUrl: root, incremental: false, sourceMap: false, declaration: false, types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')], noEmitOnError: true },
        files: [path.join(root, 'services', 'agent', 'src', 'main.ts')],
        include: [],
      },
      null,
      2,
    ),
  );
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], { stdio: 'inherit', cwd: root });
}

/** `@encedeus/<lib>` → its compiled index, from tsconfig.json's paths. */
function libIndexes() {
  const { paths } = require(path.join(root, 'tsconfig.json')).compilerOptions;
  return new Map(Object.entries(paths).map(([name, [target]]) => [name, path.join(tscOut, target.replace(/\.ts$/, '.js'))]));
}

const REQUIRE = /\brequire\(\s*["']([^"']+)["']\s*\)/g;

function resolveFile(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [base, `${base}.js`, `${base}.json`, path.join(base, 'index.js')]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  throw new Error(`cannot resolve ${spec} from ${path.relative(root, from)}`);
}

/** What a compiled lib index re-exports: name → the module file that defines it. */
function exportMap(indexFile) {
  const source = fs.readFileSync(indexFile, 'utf8');
  const vars = new Map();
  for (const m of source.matchAll(/(?:var|const|let) (\w+) = (?:__importStar\()?require\("([^"]+)"\)/g)) vars.set(m[1], resolveFile(indexFile, m[2]));
  const map = new Map();
  for (const m of source.matchAll(/Object\.defineProperty\(exports, "(\w+)", \{ enumerable: true, get: function \(\) \{ return (\w+)\.(\w+); \} \}\)/g)) {
    if (vars.has(m[2])) map.set(m[1], { file: vars.get(m[2]), name: m[3] });
  }
  // Side-effect imports of the index (e.g. messaging's native ed25519 for nkeys) stay in.
  const sideEffects = [...source.matchAll(/^require\("([^"]+)"\);$/gm)].map((m) => resolveFile(indexFile, m[1]));
  return { map, sideEffects };
}

/** Walks the require graph from main.js; returns the files, the lib shims and the npm packages. */
function walk() {
  const indexes = libIndexes();
  const exportsOf = new Map([...indexes].filter(([, file]) => fs.existsSync(file)).map(([lib, file]) => [lib, exportMap(file)]));
  const files = new Set();
  const packages = new Set();
  const used = new Map(); // lib → names used, or '*' for the whole index
  const queue = [path.join(tscOut, 'services', 'agent', 'src', 'main.js')];
  const add = (file) => {
    if (!files.has(file)) queue.push(file);
  };
  while (queue.length > 0) {
    const file = queue.pop();
    if (files.has(file)) continue;
    files.add(file);
    if (file.endsWith('.json')) continue;
    const source = fs.readFileSync(file, 'utf8');
    for (const m of source.matchAll(REQUIRE)) {
      const spec = m[1];
      if (builtins.has(spec)) continue;
      if (spec.startsWith('.')) add(resolveFile(file, spec));
      else if (indexes.has(spec)) {
        const lib = spec;
        const binding = new RegExp(`(?:var|const|let) (\\w+) = (?:__importStar\\(|__importDefault\\()?require\\("${lib.replace('/', '\\/')}"\\)`).exec(source);
        const names = used.get(lib) ?? new Set();
        used.set(lib, names);
        const { map, sideEffects } = exportsOf.get(lib);
        sideEffects.forEach(add);
        const all = () => {
          names.add('*');
          add(indexes.get(lib));
        };
        if (!binding) all();
        else {
          const refs = [...source.matchAll(new RegExp(`\\b${binding[1]}\\b(\\.(\\w+))?`, 'g'))].slice(1);
          for (const ref of refs) {
            const target = ref[2] && map.get(ref[2]);
            if (!target) {
              all();
              break;
            }
            names.add(ref[2]);
            add(target.file);
          }
        }
      } else if (!spec.startsWith('/')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
    }
  }
  return { files, used, packages, indexes, exportsOf };
}

function shimSource(shimFile, lib, names, indexes, exportsOf) {
  // Lib files are laid out under lib/ as under the tsc output.
  const staged = (file) => path.join(path.dirname(path.dirname(shimFile)), path.relative(tscOut, file));
  const rel = (file) => `./${path.relative(path.dirname(shimFile), staged(file)).split(path.sep).join('/')}`;
  if (names.has('*')) return `'use strict';\nmodule.exports = require(${JSON.stringify(rel(indexes.get(lib)))});\n`;
  const { map, sideEffects } = exportsOf.get(lib);
  const lines = ["'use strict';", `// ${lib}: only what the agent uses (generated by infra/scripts/build-agent.js).`];
  for (const file of sideEffects) lines.push(`require(${JSON.stringify(rel(file))});`);
  for (const name of [...names].sort()) {
    const { file, name: inner } = map.get(name);
    lines.push(`Object.defineProperty(exports, ${JSON.stringify(name)}, { enumerable: true, get: () => require(${JSON.stringify(rel(file))})[${JSON.stringify(inner)}] });`);
  }
  return `${lines.join('\n')}\n`;
}

/** The package dir `name` resolves to from `dir`, as Node looks it up (nearest node_modules up to the repo root). */
function resolvePackage(dir, name) {
  for (let d = dir; d.startsWith(root); d = path.dirname(d)) {
    const candidate = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (d === root) break;
  }
  return undefined;
}

/** Every top-level node_modules package the agent needs: the required ones and their dependencies, nested copies included. */
function packageClosure(roots) {
  const top = path.join(root, 'node_modules');
  const needed = new Set();
  const seen = new Set();
  const visit = (dir) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    if (path.dirname(dir) === top || path.dirname(path.dirname(dir)) === top) needed.add(path.relative(top, dir));
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const deps = { ...pkg.dependencies, ...pkg.optionalDependencies };
    for (const name of Object.keys(deps)) {
      if (name.startsWith('@types/')) continue; // type declarations some packages list as dependencies; never loaded
      const found = resolvePackage(dir, name);
      if (found) visit(found); // an optional dependency not installed for this platform is skipped
    }
  };
  for (const name of roots) {
    const found = resolvePackage(root, name);
    if (!found) throw new Error(`the agent requires ${name}, which is not installed (npm ci)`);
    visit(found);
  }
  return [...needed].sort();
}

function copyDir(from, to) {
  fs.cpSync(from, to, { recursive: true, dereference: true, filter: (src) => !/[\\/]\.(cache|bin)$/.test(src) });
}

function main() {
  const started = Date.now();
  log(`compiling the agent (tsc) into ${path.relative(root, tscOut)}`);
  compile();
  const { files, used, packages, indexes, exportsOf } = walk();
  fs.rmSync(path.dirname(stage), { recursive: true, force: true });
  const lib = path.join(stage, 'lib');
  const shims = new Map([...used.keys()].map((name) => [name, path.join(lib, '_encedeus', `${name.split('/')[1]}.js`)]));
  for (const file of files) {
    const target = path.join(lib, path.relative(tscOut, file));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    let source = fs.readFileSync(file, 'utf8');
    if (file.endsWith('.js')) {
      source = source.replace(REQUIRE, (whole, spec) => {
        const shim = shims.get(spec);
        if (!shim) return whole;
        let rel = path.relative(path.dirname(target), shim).split(path.sep).join('/');
        if (!rel.startsWith('.')) rel = `./${rel}`;
        return `require(${JSON.stringify(rel)})`;
      });
    }
    fs.writeFileSync(target, source);
  }
  for (const [name, shim] of shims) {
    fs.mkdirSync(path.dirname(shim), { recursive: true });
    fs.writeFileSync(shim, shimSource(shim, name, used.get(name), indexes, exportsOf));
  }
  const deps = packageClosure([...packages]);
  for (const dep of deps) copyDir(path.join(root, 'node_modules', dep), path.join(stage, 'node_modules', dep));
  const version = /AGENT_VERSION = '([^']+)'/.exec(fs.readFileSync(path.join(root, 'services', 'agent', 'src', 'version.ts'), 'utf8'))?.[1] ?? '0.0.0';
  fs.mkdirSync(path.join(stage, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(stage, 'bin', 'encedeus-agent'), "#!/usr/bin/env node\n'use strict';\nrequire('../lib/services/agent/src/main.js');\n", { mode: 0o755 });
  fs.writeFileSync(
    path.join(stage, 'package.json'),
    `${JSON.stringify({ name: 'encedeus-agent', version, private: true, description: 'Encedeus node agent (Skyhook), standalone', license: 'MIT', engines: { node: '>=20' }, bin: { 'encedeus-agent': 'bin/encedeus-agent' } }, null, 2)}\n`,
  );
  const tmp = `${tgz}.tmp`;
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-czf', tmp, '-C', path.dirname(stage), 'encedeus-agent']);
  fs.renameSync(tmp, tgz);
  const sha = createHash('sha256').update(fs.readFileSync(tgz)).digest('hex');
  fs.writeFileSync(`${tgz}.sha256`, `${sha}  encedeus-agent.tgz\n`);
  const libs = [...used].map(([name, names]) => `${name} (${names.has('*') ? 'whole' : names.size})`).join(', ');
  log(`${files.size} files, libs ${libs}; ${deps.length} packages: ${deps.join(' ')}`);
  log(`wrote ${path.relative(root, tgz)} (${(fs.statSync(tgz).size / 1024 / 1024).toFixed(1)} MiB, sha256 ${sha.slice(0, 12)}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * One build at a time per output dir (`npm run dev` builds in the background while the gateway may
 * build on a first download): a second builder waits for the first and uses its bundle.
 */
function withLock(build) {
  fs.mkdirSync(outDir, { recursive: true });
  const lock = path.join(outDir, '.lock');
  const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  for (;;) {
    try {
      fs.closeSync(fs.openSync(lock, 'wx'));
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      let age = 0;
      try {
        age = Date.now() - fs.statSync(lock).mtimeMs;
      } catch {
        continue;
      }
      if (age > 10 * 60_000) fs.rmSync(lock, { force: true }); // a builder that died
      else {
        log('another build is running; waiting for it');
        while (fs.existsSync(lock)) sleep(500);
        if (fs.existsSync(tgz)) return;
      }
    }
  }
  try {
    build();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

if (require.main === module) {
  try {
    withLock(main);
  } catch (error) {
    log(`failed: ${error.message}`);
    process.exit(1);
  }
}

module.exports = { bundlePath: tgz, buildDir: outDir };
