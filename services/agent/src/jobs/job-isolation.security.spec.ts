import { readdir, readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { eventually } from '../../test/fixtures/driver-probes';
import { runJob, type JobResult } from './run-job';

/** Host pid of the process whose argv[0] is `name`. */
async function pidNamed(name: string): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv0 = await readFile(`/proc/${entry}/cmdline`, 'utf8').then((c) => c.split('\0')[0], () => '');
    if (argv0 === name) return Number(entry);
  }
  return undefined;
}

// Issue 8 item 6: every job ran as uid 65534 with a shared /tmp, so one tenant's job read another's
// files in /tmp/encedeus-job-* and killed its processes; nothing bounded how many processes a job made.
describe('job isolation (security)', () => {
  /** Starts a long job that ticks until aborted; resolves once it printed `started`. */
  async function startVictim(code: string) {
    const controller = new AbortController();
    const out: string[] = [];
    let started!: () => void;
    const ready = new Promise<void>((resolve) => (started = resolve));
    const result: Promise<JobResult> = runJob(
      { runtime: 'bash', code: `${code}\necho started\nwhile :; do echo tick; sleep 0.1; done`, timeoutMs: 30_000, memoryMb: 64 },
      { signal: controller.signal, onOutput: (line) => (out.push(line), line === 'started' && started()) },
    );
    await Promise.race([ready, result.then((r) => Promise.reject(new Error(`victim ended early: ${JSON.stringify(r)}`)))]);
    return {
      out,
      /** Waits for two more ticks (a later marker proves it lived on), then cancels it. */
      async stillAliveThenStop() {
        const ticks = out.length;
        await eventually(() => out.length >= ticks + 2, 5000);
        controller.abort();
        return result;
      },
    };
  }

  it("cannot read another job's files in /tmp or its code", async () => {
    const marker = randomUUID();
    const victim = await startVictim(`# code-${marker}\necho "tmp-${marker}" > /tmp/victim-${marker}.txt; echo "dir-${marker}" > "$TMPDIR/victim.txt"`);

    const thief = await runJob({
      runtime: 'bash',
      code: `cat /tmp/victim-${marker}.txt; cat /tmp/encedeus-job-*/main.sh /tmp/encedeus-job-*/victim.txt; ls /tmp/encedeus-job-*; echo done`,
      timeoutMs: 10_000,
      memoryMb: 64,
    });
    await victim.stillAliveThenStop();

    expect(thief.stdout).toContain('done');
    expect(thief.stdout).not.toContain(marker);
  });

  it("cannot signal another job's processes", async () => {
    const name = `encedeus-victim-${randomUUID().slice(0, 8)}`;
    const victim = await startVictim(`(exec -a ${name} sleep 60) &`);
    let pid: number | undefined;
    await eventually(async () => (pid = await pidNamed(name)) !== undefined, 5000);

    const thief = await runJob({ runtime: 'bash', code: `kill -9 ${pid} && echo killed || echo denied`, timeoutMs: 10_000, memoryMb: 64 });
    const alive = await pidNamed(name);
    const result = await victim.stillAliveThenStop();

    expect(thief.stdout).toBe('denied\n');
    expect(alive).toBe(pid);
    expect(result.status).toBe('cancelled');
  });

  it('runs concurrent jobs as distinct unprivileged uids', async () => {
    const [a, b] = await Promise.all(
      [1, 2].map(() => runJob({ runtime: 'bash', code: 'sleep 0.3; id -u', timeoutMs: 10_000, memoryMb: 64 })),
    );

    const uids = [Number(a.stdout), Number(b.stdout)];
    expect(uids.every((uid) => uid > 0 && uid !== 65534)).toBe(true);
    expect(uids[0]).not.toBe(uids[1]);
  });

  it('bounds a fork bomb by the pids limit', async () => {
    const code = [
      'import os, time',
      'n = 0',
      'while n < 300:',
      '    try:',
      '        pid = os.fork()',
      '    except OSError:',
      '        break',
      '    if pid == 0:',
      '        time.sleep(30)',
      '        os._exit(0)',
      '    n += 1',
      'print(n, flush=True)',
    ].join('\n');

    const result = await runJob({ runtime: 'python3', code, timeoutMs: 20_000, memoryMb: 256 });

    expect(result).toMatchObject({ status: 'succeeded', stderr: '' });
    expect(Number(result.stdout)).toBeLessThan(64);
  });
});
