import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Repository root. */
const ROOT = join(__dirname, '..', '..');
const BUILD_INFO = join(ROOT, 'node_modules', '.cache', 'tsc', 'build.tsbuildinfo');
const LOCK = join(ROOT, 'node_modules', '.cache', 'encedeus-build.lock');
/** A lock older than this was left by a build that died. */
const STALE_LOCK_MS = 5 * 60_000;

/**
 * How a service (or the agent) runs: compiled JavaScript under dist/ with `@encedeus/*` mapped by
 * infra/scripts/dist-paths.js. No TypeScript compiler in the process: about half the memory of
 * ts-node (the files service idles at ~110 MB instead of ~200 MB) and no compile at every boot.
 * `ENCEDEUS_TS_NODE=1` runs the sources with ts-node instead.
 */
export function serviceCommand(entry: string): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  const relative = entry.startsWith(ROOT) ? entry.slice(ROOT.length + 1) : entry;
  if (process.env.ENCEDEUS_TS_NODE === '1') {
    return { command: process.execPath, args: ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', join(ROOT, relative)], env: { TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') } };
  }
  return { command: process.execPath, args: ['-r', join(ROOT, 'infra', 'scripts', 'dist-paths.js'), join(ROOT, 'dist', relative.replace(/\.ts$/, '.js'))], env: {} };
}

/**
 * Compiles services and libs into dist/ (`tsc -p tsconfig.build.json`, incremental: a second run
 * with nothing changed takes a few seconds). One build at a time per checkout (a lock folder), so
 * `npm run dev` and tests that start services as processes never write dist/ together. Type errors
 * are reported but do not stop the build's output (tsc still emits); a missing output does.
 */
export async function buildServices(log: (message: string) => void = () => undefined): Promise<void> {
  await withLock(async () => {
    // tsc's build info says "up to date" even when dist/ was deleted: then build from scratch.
    if (!existsSync(join(ROOT, 'dist', 'services', 'gateway', 'src', 'main.js'))) rmSync(BUILD_INFO, { force: true });
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--incremental', '--tsBuildInfoFile', BUILD_INFO], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
      );
    });
    if (result.code !== 0) log(`tsc reported errors (the services run from what it emitted):\n${result.output.trim().split('\n').slice(0, 20).join('\n')}`);
    if (!existsSync(join(ROOT, 'dist', 'services', 'gateway', 'src', 'main.js'))) throw new Error(`build: tsc emitted nothing\n${result.output}`);
  });
}

async function withLock(work: () => Promise<void>): Promise<void> {
  mkdirSync(join(LOCK, '..'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
      } catch {}
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    await work();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
