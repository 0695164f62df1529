import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restartDelayMs, Supervised } from './supervisor';

describe('restartDelayMs', () => {
  it('doubles from 1 s and stops at 30 s', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7].map(restartDelayMs);

    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });
});

describe('Supervised', () => {
  it('restarts a child that was killed, and not one that exited cleanly', async () => {
    const lines: string[] = [];
    const pids: number[] = [];
    const mark = join(tmpdir(), `encedeus-supervisor-${process.pid}-${Date.now()}`);
    const supervised = new Supervised({
      name: 'sleeper',
      command: process.execPath,
      // First run: wait to be killed. Second run: exit 0 at once.
      args: ['-e', `require('fs').existsSync(process.env.MARK) ? process.exit(0) : (require('fs').writeFileSync(process.env.MARK, ''), setInterval(() => {}, 1000))`],
      spawn: { env: { ...process.env, MARK: mark }, stdio: 'ignore' },
      log: (line) => lines.push(line),
      onStart: (child) => pids.push(child.pid!),
    });
    await waitFor(() => lines.some((l) => l.includes('started')), 10_000);
    // Kill the first run only once it has left its mark, so that the second run exits cleanly.
    await waitFor(() => existsSync(mark), 30_000);

    process.kill(pids[0], 'SIGKILL');
    // 1 s of back-off plus a node start, which takes seconds on a loaded CI machine.
    await waitFor(() => lines.some((l) => l.includes('not restarting')), 30_000);

    supervised.stop();
    rmSync(mark, { force: true });
    expect(lines.find((l) => l.includes('SIGKILL'))).toMatch(/restarting in 1 s/);
    expect(pids).toHaveLength(2);
  });
});

async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
