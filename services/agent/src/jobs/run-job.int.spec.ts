import { createServer, type Server } from 'node:net';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { groupProcesses } from '../drivers/proc';
import { isolation } from './job-sandbox';
import { runJob } from './run-job';

describe('runJob', () => {
  it('reports the isolation it found once', async () => {
    const found = await isolation();

    expect(['namespace', 'none']).toContain(found.network);
    expect(['cgroup-v1', 'cgroup-v2', 'rlimit']).toContain(found.memory);
    expect(Object.keys(found.runtimes).sort()).toEqual(['bash', 'node', 'python3']);
  });

  it('runs python and returns its output exactly', async () => {
    const result = await runJob({ runtime: 'python3', code: "print('hello from nexus')", timeoutMs: 10_000, memoryMb: 128 });

    expect(result).toMatchObject({ stdout: 'hello from nexus\n', stderr: '', exit_code: 0, status: 'succeeded' });
    expect(result.execution_time_ms).toBeGreaterThan(0);
  });

  it('runs node and bash with stdin, and streams lines as they come', async () => {
    const lines: string[] = [];
    const node = await runJob(
      { runtime: 'node', code: "process.stdin.on('data', (d) => console.log('node got ' + d.toString().trim()))", stdin: 'ping\n', timeoutMs: 10_000, memoryMb: 128 },
      { onOutput: (line, stream) => lines.push(`${stream}:${line}`) },
    );
    const bash = await runJob({ runtime: 'bash', code: 'read x; echo "bash got $x"; echo warn >&2; exit 3', stdin: 'pong', timeoutMs: 10_000, memoryMb: 64 });

    expect(node).toMatchObject({ stdout: 'node got ping\n', exit_code: 0, status: 'succeeded' });
    expect(lines).toEqual(['stdout:node got ping']);
    expect(bash).toMatchObject({ stdout: 'bash got pong\n', stderr: 'warn\n', exit_code: 3, status: 'failed' });
  });

  it('stops an endless loop at its timeout, killing the whole process group', async () => {
    let pid = 0;
    const started = Date.now();

    const result = await runJob(
      { runtime: 'bash', code: 'sleep 100 & echo $$; while :; do :; done', timeoutMs: 1000, memoryMb: 64 },
      { onOutput: (line) => (pid = Number(line)) },
    );

    expect(result.status).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await groupProcesses(pid)).toEqual([]);
  });

  it('kills a job that goes over its memory limit', async () => {
    const result = await runJob({ runtime: 'python3', code: 'x = bytearray(512 * 1024 * 1024)\nprint(len(x))', timeoutMs: 10_000, memoryMb: 128 });

    expect(result.status).toBe('killed');
    expect(result.stdout).toBe('');
  });

  describe('network', () => {
    let server: Server;
    let port: number;
    beforeAll(async () => {
      server = createServer((socket) => socket.end('reachable\n'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => new Promise((resolve) => server.close(resolve)));

    it('cannot connect anywhere when namespaces are available', async () => {
      if ((await isolation()).network !== 'namespace') return console.warn('skipped: no network namespace here, jobs reach the network');
      const code = [
        'import socket',
        `for target in [('127.0.0.1', ${port}), ('1.1.1.1', 80)]:`,
        '    try:',
        '        socket.create_connection(target, timeout=2).close()',
        "        print('connected', target[0])",
        '    except OSError as e:',
        "        print('blocked', target[0], e.errno)",
      ].join('\n');

      const result = await runJob({ runtime: 'python3', code, timeoutMs: 10_000, memoryMb: 64 });

      expect(result.stdout).toMatch(/^blocked 127\.0\.0\.1 \d+\nblocked 1\.1\.1\.1 \d+\n$/);
    });
  });

  it('cancels through an AbortSignal and leaves no process behind', async () => {
    const controller = new AbortController();
    let pid = 0;

    const result = await runJob(
      { runtime: 'bash', code: 'echo $$; sleep 100', timeoutMs: 30_000, memoryMb: 64 },
      { signal: controller.signal, onOutput: (line) => ((pid = Number(line)), controller.abort()) },
    );

    expect(result.status).toBe('cancelled');
    expect(pid).toBeGreaterThan(0);
    expect(await groupProcesses(pid)).toEqual([]);
  });

  it('accepts a bare AbortSignal and answers an aborted one without running', async () => {
    const result = await runJob({ runtime: 'python3', code: 'print(1)', timeoutMs: 1000, memoryMb: 64 }, AbortSignal.abort());

    expect(result.status).toBe('cancelled');
  });

  it('caps output and deletes its temp directory', async () => {
    const before = (await readdir(tmpdir())).filter((f) => f.startsWith('encedeus-job-')).length;

    const result = await runJob({ runtime: 'python3', code: "import sys\nsys.stdout.write('x' * 3000)", timeoutMs: 10_000, memoryMb: 64 }, { outputCapBytes: 1000 });
    const after = (await readdir(tmpdir())).filter((f) => f.startsWith('encedeus-job-')).length;

    expect(result.stdout).toBe(`${'x'.repeat(1000)}\n[output truncated: 2000 more bytes]\n`);
    expect(after).toBeLessThanOrEqual(before);
  });
});
