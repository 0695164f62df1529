import { httpAllowed } from '../delivery/capabilities';
import { PluginSandbox, SandboxError, SandboxPool } from './plugin-sandbox';

/*
 * What untrusted plugin code can reach from inside the sandbox (issue 13, DESIGN.md §10): nothing of
 * Node, no module loader, only the ctx capabilities its manifest grants, bounded CPU and memory.
 */

const calls: [string, unknown[]][] = [];
const logs: string[] = [];
const sandbox = (code: string, permissions: string[] = [], limits = {}) =>
  new PluginSandbox({
    code,
    config: { secret: 'cfg' },
    permissions,
    limits: { cpuMs: 100, wallMs: 5000, memoryBytes: 8 * 1024 * 1024, ...limits },
    capabilities: async (capability, args) => {
      if (args[0] === 'hang') return new Promise(() => undefined);
      calls.push([capability, args]);
      return { ok: true };
    },
    log: (_level, message) => logs.push(message),
  });

describe('plugin sandbox', () => {
  const started: PluginSandbox[] = [];
  const open = (code: string, permissions: string[] = [], limits = {}) => {
    const s = sandbox(code, permissions, limits);
    started.push(s);
    return s;
  };
  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop()));
  });

  it('gives plugin code no Node: no require, process, fs, import, or the host bridge', async () => {
    const probe = open(`export default { onEvent(e, ctx) {
      ctx.log(JSON.stringify({
        require: typeof require, process: typeof process, globalHost: typeof globalThis.__host, fetch: typeof fetch,
        setTimeout: typeof setTimeout, kv: typeof ctx.kv, http: typeof ctx.http, api: typeof ctx.api, config: ctx.config.secret,
      }));
    } };`);

    await probe.run('onEvent', { type: 'x.y' });

    expect(JSON.parse(logs.at(-1)!)).toEqual({ require: 'undefined', process: 'undefined', globalHost: 'undefined', fetch: 'undefined', setTimeout: 'undefined', kv: 'undefined', http: 'undefined', api: 'undefined', config: 'cfg' });
    await expect(open(`import * as os from 'os'; export default {};`).start()).rejects.toThrow(/could not load module 'os'/);
    await expect(open(`export default { async onEvent() { await import('fs'); } };`).run('onEvent', {})).rejects.toThrow(SandboxError);
  }, 30_000);

  it('offers only the granted capabilities, each through the host', async () => {
    const granted = open(`export default { async onEvent(e, ctx) { await ctx.kv.set('k', 1); await ctx.http.get('http://a.example/'); ctx.log(typeof ctx.api); } };`, ['kv', 'http:a.example']);

    await granted.run('onEvent', {});

    expect(calls.map(([c]) => c)).toEqual(['kv.set', 'http.get']);
    expect(logs.at(-1)).toBe('undefined');
  }, 30_000);

  it('stops an endless loop at its CPU budget and a runaway allocation at its memory limit; the sandbox serves the next event', async () => {
    const loop = open(`export default { onEvent(e) { if (e.loop) for (;;) {} } };`);
    const t = performance.now();
    await expect(loop.run('onEvent', { loop: true })).rejects.toThrow(/CPU budget of 100 ms exceeded/);
    expect(performance.now() - t).toBeLessThan(5000);
    await expect(loop.run('onEvent', { loop: false })).resolves.toBeGreaterThanOrEqual(0);

    // QuickJS polls its interrupt handler by operation count and counts memory loosely: an
    // allocation spree is ended by the memory limit or, past the wall clock, by ending its thread.
    const hog = open(`export default { onEvent() { const a = []; for (;;) a.push(new Array(10000).fill(a.length)); } };`, [], { cpuMs: 20_000, wallMs: 3000 });
    await expect(hog.run('onEvent', {})).rejects.toThrow(/memory limit exceeded|longer than 3000 ms/);
    await expect(loop.run('onEvent', { loop: false })).resolves.toBeGreaterThanOrEqual(0);

    const deep = open(`function f(n) { return f(n + 1) + 1; } export default { onEvent() { f(0); } };`);
    await expect(deep.run('onEvent', {})).rejects.toThrow(/stack overflow/);
  }, 60_000);

  it('fails a hook whose promise can never settle at once, and one stuck on the host at its wall clock', async () => {
    const never = open(`export default { onEvent() { return new Promise(() => {}); } };`);
    await expect(never.run('onEvent', {})).rejects.toThrow(/can never settle/);

    const stuck = open(`export default { async onEvent(e, ctx) { await ctx.kv.get('hang'); } };`, ['kv'], { wallMs: 500 });
    await expect(stuck.run('onEvent', {})).rejects.toThrow(/longer than 500 ms/);
  }, 30_000);
});

describe('sandbox pool', () => {
  it('ends a thread held past the CPU budget by one native operation, blames that plugin, and spares the others', async () => {
    const pool = new SandboxPool(1);
    const spec = (code: string, permissions: string[] = []) => ({
      code,
      config: {},
      permissions,
      limits: { cpuMs: 100, wallMs: 8000, memoryBytes: 8 * 1024 * 1024 },
      capabilities: async () => new Promise((r) => setTimeout(() => r({}), 50)),
      log: () => undefined,
    });
    const hog = new PluginSandbox(spec(`export default { onEvent() { const all = []; for (;;) all.push('x'.repeat(65536) + all.length); } };`), pool);
    const bystander = new PluginSandbox(spec(`export default { async onEvent(e, ctx) { await ctx.http.get('http://a/'); } };`, ['http:a']), pool);
    await Promise.all([hog.start(), bystander.start()]);
    const t = performance.now();

    const [hogResult, bystanderResult] = await Promise.allSettled([hog.run('onEvent', {}), bystander.run('onEvent', {})]);

    expect(performance.now() - t).toBeLessThan(6000);
    expect((hogResult as PromiseRejectedResult).reason.message).toMatch(/CPU budget|thread was ended/);
    if (bystanderResult.status === 'rejected') expect((bystanderResult.reason as SandboxError).collateral).toBe(true);
    await expect(bystander.run('onEvent', {})).resolves.toBeGreaterThanOrEqual(0);
    await Promise.all([hog.stop(), bystander.stop()]);
  }, 30_000);
});

describe('httpAllowed', () => {
  it('allows the granted host only (port exact when granted with one), http(s) only, no credentials in the URL', () => {
    expect(httpAllowed(['http:hooks.example.com'], new URL('https://hooks.example.com/x'))).toBe(true);
    expect(httpAllowed(['http:hooks.example.com'], new URL('https://hooks.example.com:8443/x'))).toBe(false);
    expect(httpAllowed(['http:hooks.example.com'], new URL('https://evil.example.com/x'))).toBe(false);
    expect(httpAllowed(['http:hooks.example.com'], new URL('https://hooks.example.com.evil.com/x'))).toBe(false);
    expect(httpAllowed(['http:hooks.example.com'], new URL('https://user:pw@hooks.example.com/x'))).toBe(false);
    expect(httpAllowed(['http:127.0.0.1:8080'], new URL('http://127.0.0.1:8080/'))).toBe(true);
    expect(httpAllowed(['http:127.0.0.1:8080'], new URL('http://127.0.0.1:8081/'))).toBe(false);
    expect(httpAllowed(['http:hooks.example.com'], new URL('file:///etc/passwd'))).toBe(false);
  });
});
