import { PluginSandbox, SandboxPool } from './plugin-sandbox';

/*
 * The latency path of one event through the sandbox (bench/plugins.bench.ts: append → webhook p99):
 * the worker used to post two watchdog messages per VM slice (four or more per event besides the
 * host call and the answer); the watchdog now reads shared memory, so an event with one host call
 * costs the main thread exactly two messages from the worker.
 */
describe('sandbox pool: messages per event', () => {
  it('posts only the host call and the answer for an event that makes one host call, and the watchdog still ends a runaway', async () => {
    const pool = new SandboxPool(1);
    const spec = (code: string) => ({
      code,
      config: {},
      permissions: ['http:a'],
      limits: { cpuMs: 100, wallMs: 8000, memoryBytes: 8 * 1024 * 1024 },
      capabilities: async () => ({ status: 200 }),
      log: () => undefined,
    });
    const hook = new PluginSandbox(spec(`export default { async onEvent(e, ctx) { await ctx.http.post('http://a/', { id: e.id }); } };`), pool);
    await hook.start();
    const worker = pool.acquire().worker;
    const seen: string[] = [];
    const count = (m: { type: string }) => seen.push(m.type);
    worker.on('message', count);

    await hook.run('onEvent', { id: 1 });
    await hook.run('onEvent', { id: 2 });

    worker.off('message', count);
    expect(seen).toEqual(['call', 'done', 'call', 'done']);

    const hog = new PluginSandbox(spec(`export default { onEvent() { const all = []; for (;;) all.push('x'.repeat(65536) + all.length); } };`), pool);
    await expect(hog.run('onEvent', {})).rejects.toThrow(/CPU budget|thread was ended|memory/);
    await expect(hook.run('onEvent', { id: 3 })).resolves.toBeGreaterThanOrEqual(0);
    await Promise.all([hook.stop(), hog.stop()]);
  }, 30_000);
});
