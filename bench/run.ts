import 'reflect-metadata';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { createTestDatabase, findOrStartPostgres, natsServerBinary, startNats, type PostgresServer } from '@encedeus/testing';
import type { ChildResult, ChildSpec } from './lib/child';
import { allConditions, figures, fmt, importResults, passed, ratioText, type MachineInfo } from './lib/harness';

/**
 * `npm run bench [-- <name> …]`: runs every `bench/*.bench.ts` (or those whose file name contains
 * one of the arguments) one after the other, each in a process of its own against its own
 * nats-server and database, then prints a summary and appends a dated section to bench/RESULTS.md.
 * A bench exports `run(): Promise<void>`, reads its environment with `benchEnv()` and reports with
 * `record()` and `conditions()` (bench/lib/harness.ts).
 */

const RESULTS = join(__dirname, 'RESULTS.md');
/** A bench that hangs is reported as failed and the run goes on. */
const TIMEOUT_S = Number(process.env.BENCH_TIMEOUT_S ?? 240);

async function machineInfo(postgres: PostgresServer): Promise<MachineInfo> {
  let natsServer = 'unknown';
  try {
    natsServer = execFileSync(natsServerBinary(), ['--version'], { encoding: 'utf8' })
      .trim()
      .replace(/^nats-server:\s*/, '');
  } catch {}
  const pg = new Client({ connectionString: postgres.adminUrl });
  await pg.connect();
  const version = (await pg.query('show server_version')).rows[0].server_version as string;
  await pg.end();
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    ramGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    natsServer,
    postgres: `PostgreSQL ${version.split(' ')[0]} (${postgres.kind})`,
  };
}

function machineLine(m: MachineInfo): string {
  return `${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.os}; Node ${m.node}; nats-server ${m.natsServer}; ${m.postgres}`;
}

/** Runs one bench in a child process (bench/lib/child.ts) against a fresh nats-server and database. */
async function runOne(file: string, postgres: PostgresServer, machine: MachineInfo): Promise<string | undefined> {
  const nats = await startNats();
  const db = await createTestDatabase(postgres, 'bench');
  const out = join(mkdtempSync(join(tmpdir(), 'encedeus-bench-')), 'result.json');
  const spec: ChildSpec = {
    file: join(__dirname, file),
    nats: { url: nats.url, port: nats.port, bundle: nats.bundle },
    postgres: { adminUrl: postgres.adminUrl, kind: postgres.kind },
    db: { url: db.url, name: db.name },
    machine,
    out,
  };
  try {
    const child = spawn(process.execPath, [...nodeArgs(), '-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', join(__dirname, 'lib', 'child.ts')], {
      cwd: join(__dirname, '..'),
      env: { ...process.env, BENCH_CHILD: JSON.stringify(spec), TS_NODE_PROJECT: join(__dirname, '..', 'tsconfig.json') },
      stdio: 'inherit',
      // Its own process group: a bench that overruns is killed with everything it started.
      detached: true,
    });
    current = child;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), TIMEOUT_S * 1000))),
    ]);
    clearTimeout(timer);
    killGroup(child);
    await exited;
    current = undefined;
    if (existsSync(out)) {
      const result = JSON.parse(readFileSync(out, 'utf8')) as ChildResult;
      importResults(result.figures, result.conditions);
      if (result.error) return result.error;
    }
    if (timedOut) {
      console.error(`  ✗ ${file} did not finish within ${TIMEOUT_S} s (BENCH_TIMEOUT_S); killed`);
      return `did not finish within ${TIMEOUT_S} s (BENCH_TIMEOUT_S); killed`;
    }
    if (!existsSync(out)) return `exited (${child.exitCode ?? child.signalCode}) without results`;
    return undefined;
  } finally {
    rmSync(dirname(out), { recursive: true, force: true });
    await nats.stop().catch(() => undefined);
    await db.drop().catch(() => undefined);
  }
}

let current: ChildProcess | undefined;

/** Ends the child's process group (the bench and whatever it spawned). */
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (current) killGroup(current);
    process.exit(130);
  });
}

function summaryRows(): string[][] {
  return figures().map((f) => [
    f.bench,
    f.name,
    `${fmt(f.value)} ${f.unit}`,
    f.target
      ? `${f.target.op} ${fmt(f.target.value)}${f.minShareOfRaw !== undefined ? ` and ≥ ${Math.round(f.minShareOfRaw * 100)} % of raw` : ''}`
      : '—',
    f.raw ? `${f.raw.name}: ${fmt(f.raw.value)} ${f.raw.unit}` : '—',
    f.raw ? ratioText(f).replace(/, target.*$/, '') : '—',
    f.target || f.minShareOfRaw !== undefined ? (passed(f) ? 'pass' : '**miss**') : 'info',
  ]);
}

function printTable(rows: string[][]): void {
  const header = ['bench', 'figure', 'measured', 'target', 'raw (same run)', 'vs raw', 'result'];
  const all = [header, ...rows.map((r) => r.map((c) => c.replace(/\*\*/g, '')))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  for (const [n, row] of all.entries()) {
    console.log(row.map((c, i) => c.padEnd(widths[i])).join('  '));
    if (n === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

/** How each bench ran: wall time and the machine's load average when it started (the box may be shared). */
const runs: { bench: string; seconds: number; loadAverage: number[] }[] = [];

function writeResults(machine: MachineInfo, args: string[], ran: string[], failures: Map<string, string>, seconds: number): void {
  if (!existsSync(RESULTS)) {
    writeFileSync(
      RESULTS,
      '# Benchmark results\n\nAppended by `npm run bench` (bench/run.ts): one section per run, newest last. ' +
        'Benchmarks, not tests: a miss is reported, never failed. Every figure sits beside the raw figure measured in the same run.\n',
    );
  }
  const date = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  const lines = [
    '',
    `## ${date} — \`npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}\``,
    '',
    `Machine: ${machineLine(machine)}.`,
    `Benches: ${ran.join(', ')} (${seconds.toFixed(0)} s in all). Load average (1 min) when each started: ${runs.map((r) => `${r.bench} ${r.loadAverage[0].toFixed(2)} (${r.seconds.toFixed(0)} s)`).join(', ')}.`,
    '',
    '| bench | figure | measured | target | raw (same run) | vs raw | result |',
    '|---|---|---|---|---|---|---|',
    ...summaryRows().map((r) => `| ${r.join(' | ')} |`),
  ];
  for (const [file, message] of failures) lines.push('', `**${file} failed:** ${message.replace(/\n/g, ' ')}`);
  const notes = figures().filter((f) => f.note);
  if (notes.length) {
    lines.push('', 'Notes:');
    for (const f of notes) lines.push(`- ${f.bench} / ${f.name}: ${f.note}`);
  }
  for (const [bench, values] of allConditions()) {
    lines.push('', `Conditions of ${bench}:`, ...values.map((v) => `- ${v}`));
  }
  appendFileSync(RESULTS, lines.join('\n') + '\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const all = readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.ts'))
    .sort();
  const selected = args.length ? all.filter((f) => args.some((a) => f.includes(a))) : all;
  if (selected.length === 0) {
    console.error(`bench: nothing matches ${args.join(' ')}; available: ${all.map((f) => f.replace(/\.bench\.ts$/, '')).join(', ')}`);
    process.exit(2);
  }
  const started = process.hrtime.bigint();
  const postgres = await findOrStartPostgres();
  const machine = await machineInfo(postgres);
  console.log(`Machine: ${machineLine(machine)}`);
  const failures = new Map<string, string>();
  for (const file of selected) {
    const t0 = process.hrtime.bigint();
    const loadAverage = os.loadavg();
    console.log(`\n▶ ${file} (load average ${loadAverage.map((l) => l.toFixed(2)).join(' ')})`);
    const failure = await runOne(file, postgres, machine);
    if (failure) failures.set(file, failure);
    const took = Number(process.hrtime.bigint() - t0) / 1e9;
    runs.push({ bench: file.replace(/\.bench\.ts$/, ''), seconds: took, loadAverage });
    console.log(`  (${took.toFixed(1)} s)`);
  }
  await postgres.stop().catch(() => undefined);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;

  console.log('\nSummary');
  printTable(summaryRows());
  writeResults(
    machine,
    args,
    selected.map((f) => f.replace(/\.bench\.ts$/, '')),
    failures,
    seconds,
  );
  console.log(`\nAppended to ${RESULTS} (${seconds.toFixed(0)} s).`);
  // Nest apps and pools may keep timers alive after close; the run is over.
  process.exit(failures.size ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

/** Extra node flags for each bench's process, e.g. `BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"`. */
function nodeArgs(): string[] {
  return (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
}
