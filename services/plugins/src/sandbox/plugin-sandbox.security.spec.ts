import { httpAllowed } from '../delivery/capabilities';
import { PluginSandbox, SandboxError } from './plugin-sandbox';

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

    const hog = open(`export default { onEvent() { const a = []; for (;;) a.push('x'.repeat(1 << 20) + a.length); } };`, [], { cpuMs: 5000 });
    await expect(hog.run('onEvent', {})).rejects.toThrow(/memory|out of memory|stopped/i);

    const deep = open(`function f(n) { return f(n + 1) + 1; } export default { onEvent() { f(0); } };`);
    await expect(deep.run('onEvent', {})).rejects.toThrow(/stack overflow/);
  }, 60_000);

  it('does not follow a plugin that never settles: the wall clock ends it', async () => {
    const stuck = open(`export default { onEvent() { return new Promise(() => {}); } };`, [], { wallMs: 500 });

    await expect(stuck.run('onEvent', {})).rejects.toThrow(/longer than 500 ms/);
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
