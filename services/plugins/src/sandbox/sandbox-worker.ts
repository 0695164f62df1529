import { parentPort, workerData } from 'node:worker_threads';
import { getQuickJS, type QuickJSContext, type QuickJSDeferredPromise, type QuickJSHandle, type QuickJSRuntime } from 'quickjs-emscripten';

/*
 * One plugin's QuickJS runtime, alone in this worker thread (sandbox/plugin-sandbox.ts starts it).
 * The plugin's code sees only what the bootstrap below gives it: standard JavaScript, no module
 * loader (so no import), no require, no fs, no network, and a `ctx` whose capabilities call the
 * host through one function, `__host(capability, argsJson)`, answered as a promise. Everything
 * crossing the boundary is a JSON string.
 */

export type ToSandbox =
  | { type: 'init'; code: string; config: unknown; capabilities: { kv: boolean; http: boolean; api: boolean }; memoryBytes: number; cpuMs: number }
  | { type: 'run'; id: number; hook: 'onEvent' | 'onInstall' | 'onEnable' | 'onDisable'; event?: unknown }
  | { type: 'reply'; callId: number; ok: boolean; value?: string; error?: string };

export type FromSandbox =
  | { type: 'ready' }
  | { type: 'init_failed'; error: string }
  | { type: 'call'; callId: number; capability: string; args: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  | { type: 'done'; id: number; ok: boolean; error?: string; cpuMs: number };

/** Defines `ctx` and `__run` inside the VM. Capabilities absent from the manifest are absent from ctx. */
const BOOTSTRAP = `
(function () {
  const host = globalThis.__host;
  delete globalThis.__host;
  const caps = JSON.parse(globalThis.__caps); delete globalThis.__caps;
  const config = JSON.parse(globalThis.__config); delete globalThis.__config;
  const call = (capability, args) => host(capability, JSON.stringify(args)).then((r) => (r === undefined ? undefined : JSON.parse(r)));
  const text = (args) => args.map((a) => (typeof a === 'string' ? a : (() => { try { return JSON.stringify(a); } catch (e) { return String(a); } })())).join(' ');
  const log = (...args) => { host('log', JSON.stringify({ level: 'info', message: text(args) })); };
  log.info = log;
  log.warn = (...args) => { host('log', JSON.stringify({ level: 'warn', message: text(args) })); };
  log.error = (...args) => { host('log', JSON.stringify({ level: 'error', message: text(args) })); };
  const ctx = { config: Object.freeze(config), log };
  if (caps.kv) ctx.kv = Object.freeze({ get: (key) => call('kv.get', [key]), set: (key, value) => call('kv.set', [key, value]), delete: (key) => call('kv.delete', [key]) });
  if (caps.http) ctx.http = Object.freeze({ get: (url) => call('http.get', [url]), post: (url, json) => call('http.post', [url, json]) });
  if (caps.api) ctx.api = Object.freeze({ call: (verb, params) => call('api.call', [verb, params]) });
  const frozen = Object.freeze(ctx);
  globalThis.console = Object.freeze({ log, info: log, warn: log.warn, error: log.error });
  globalThis.__run = function (plugin, hook, eventJson) {
    const fn = plugin && plugin[hook];
    if (typeof fn !== 'function') return Promise.resolve();
    return Promise.resolve().then(() => fn.call(plugin, eventJson === undefined ? undefined : JSON.parse(eventJson), frozen));
  };
})();
`;

const port = parentPort!;
const LOAD_CPU_MS = 2000;
let runtime: QuickJSRuntime | undefined;
let vm: QuickJSContext | undefined;
let plugin: QuickJSHandle | undefined;
let runFn: QuickJSHandle | undefined;
let cpuMs = 200;
/** CPU spent inside the VM by the current event, and when the current slice started. */
let spent = 0;
let sliceStart = 0;
let interrupted = false;
let nextCall = 1;
const calls = new Map<number, QuickJSDeferredPromise>();

/** Runs `work` inside the VM as one slice of the event's CPU budget. */
function slice<T>(work: () => T): T {
  sliceStart = performance.now();
  try {
    return work();
  } finally {
    spent += performance.now() - sliceStart;
    sliceStart = 0;
  }
}

function errorText(handle: QuickJSHandle): string {
  const dumped = vm!.dump(handle) as unknown;
  if (dumped && typeof dumped === 'object') {
    const e = dumped as { name?: string; message?: string };
    return `${e.name ?? 'Error'}: ${e.message ?? JSON.stringify(dumped)}`.slice(0, 2000);
  }
  return String(dumped).slice(0, 2000);
}

/** Why the VM stopped, in words: the budget, the memory limit, or what the plugin threw. */
function reason(message: string): string {
  if (interrupted) return `CPU budget of ${cpuMs} ms exceeded`;
  if (/out of memory/i.test(message)) return `memory limit exceeded (${message})`;
  return message;
}

async function init(message: Extract<ToSandbox, { type: 'init' }>): Promise<void> {
  const QuickJS = await getQuickJS();
  // Loading gets a budget of its own: V8 compiles QuickJS's WebAssembly lazily, so the first
  // evaluations of a fresh worker are slow; the plugin's top level still cannot run for ever.
  cpuMs = Math.max(message.cpuMs, LOAD_CPU_MS);
  runtime = QuickJS.newRuntime();
  runtime.setMemoryLimit(message.memoryBytes);
  runtime.setMaxStackSize(256 * 1024);
  // Polled by operation count: the budget is checked while the VM runs, never between slices.
  runtime.setInterruptHandler(() => {
    if (sliceStart > 0 && spent + (performance.now() - sliceStart) > cpuMs) {
      interrupted = true;
      return true;
    }
    return false;
  });
  vm = runtime.newContext();
  const host = vm.newFunction('__host', (capHandle, argsHandle) => {
    const capability = vm!.getString(capHandle);
    const args = vm!.getString(argsHandle);
    if (capability === 'log') {
      try {
        const { level, message: text } = JSON.parse(args) as { level: 'info' | 'warn' | 'error'; message: string };
        port.postMessage({ type: 'log', level, message: String(text).slice(0, 4000) } satisfies FromSandbox);
      } catch {
        // A log line that is not JSON is dropped.
      }
      return vm!.undefined;
    }
    const deferred = vm!.newPromise();
    const callId = nextCall++;
    calls.set(callId, deferred);
    port.postMessage({ type: 'call', callId, capability, args } satisfies FromSandbox);
    return deferred.handle;
  });
  vm.setProp(vm.global, '__host', host);
  host.dispose();
  for (const [name, value] of [
    ['__caps', JSON.stringify(message.capabilities)],
    ['__config', JSON.stringify(message.config ?? {})],
  ] as const) {
    const h = vm.newString(value);
    vm.setProp(vm.global, name, h);
    h.dispose();
  }
  spent = 0;
  interrupted = false;
  const boot = slice(() => vm!.evalCode(BOOTSTRAP, 'bootstrap.js', { type: 'global' }));
  if (boot.error) {
    const text = errorText(boot.error);
    boot.error.dispose();
    throw new Error(`bootstrap: ${text}`);
  }
  boot.value.dispose();
  runFn = vm.getProp(vm.global, '__run');

  spent = 0;
  interrupted = false;
  const loaded = slice(() => vm!.evalCode(message.code, 'plugin.js', { type: 'module', strict: true }));
  if (loaded.error) {
    const text = reason(errorText(loaded.error));
    loaded.error.dispose();
    throw new Error(text);
  }
  let exports = loaded.value;
  const state = vm.getPromiseState(exports);
  if (state.type === 'fulfilled' && !state.notAPromise) {
    exports.dispose();
    exports = state.value;
  } else if (state.type !== 'fulfilled' || !state.notAPromise) {
    // Top-level await: the module's exports arrive as a promise.
    const settled = vm.resolvePromise(exports);
    slice(() => runtime!.executePendingJobs());
    exports.dispose();
    const result = await settled;
    if (result.error) {
      const text = reason(errorText(result.error));
      result.error.dispose();
      throw new Error(text);
    }
    exports = result.value;
  }
  plugin = vm.getProp(exports, 'default');
  exports.dispose();
  cpuMs = message.cpuMs;
  if (vm.typeof(plugin) !== 'object' && vm.typeof(plugin) !== 'function') throw new Error('the entry module has no default export (an object with onEvent)');
}

/** Runs pending jobs until the hook's promise settles, a slice at a time (host calls answer in between). */
async function run(message: Extract<ToSandbox, { type: 'run' }>): Promise<void> {
  spent = 0;
  interrupted = false;
  const done = (ok: boolean, error?: string) => port.postMessage({ type: 'done', id: message.id, ok, error, cpuMs: Math.round(spent * 100) / 100 } satisfies FromSandbox);
  if (!vm || !plugin || !runFn) return done(false, 'the sandbox is not initialised');
  const args = [plugin, vm.newString(message.hook), message.event === undefined ? vm.undefined : vm.newString(JSON.stringify(message.event))];
  const called = slice(() => vm!.callFunction(runFn!, vm!.undefined, args));
  args.slice(1).forEach((h) => h !== vm!.undefined && h.dispose());
  if (called.error) {
    const text = reason(errorText(called.error));
    called.error.dispose();
    return done(false, text);
  }
  const settled = vm.resolvePromise(called.value);
  called.value.dispose();
  const pump = () => {
    const jobs = slice(() => runtime!.executePendingJobs());
    if (jobs.error) {
      const text = reason(errorText(jobs.error));
      jobs.error.dispose();
      throw new Error(text);
    }
  };
  const failed = new Promise<never>((_, reject) => (failRun = (text) => reject(new Error(text))));
  try {
    pumpAfterReply = pump;
    pump();
    const result = await Promise.race([settled, failed]);
    if (result.error) {
      const text = reason(errorText(result.error));
      result.error.dispose();
      return done(false, text);
    }
    result.value.dispose();
    if (interrupted) return done(false, reason(''));
    done(true);
  } catch (error) {
    done(false, (error as Error).message);
  } finally {
    pumpAfterReply = undefined;
    failRun = undefined;
  }
}

let pumpAfterReply: (() => void) | undefined;
let failRun: ((text: string) => void) | undefined;

function reply(message: Extract<ToSandbox, { type: 'reply' }>): void {
  const deferred = calls.get(message.callId);
  if (!deferred || !vm) return;
  calls.delete(message.callId);
  if (message.ok) {
    const value = message.value === undefined ? vm.undefined : vm.newString(message.value);
    deferred.resolve(value);
    if (value !== vm.undefined) value.dispose();
  } else {
    const error = vm.newError(message.error ?? 'failed');
    deferred.reject(error);
    error.dispose();
  }
  deferred.dispose();
  try {
    pumpAfterReply?.();
  } catch (error) {
    // An uncatchable error (budget, memory) inside a job: the hook's promise will never settle.
    failRun?.((error as Error).message);
  }
}

if (workerData?.encedeusPluginSandbox) {
  // One message at a time: a run waits for host replies, which arrive as messages too.
  port.on('message', (message: ToSandbox) => {
    if (message.type === 'init') {
      init(message).then(
        () => port.postMessage({ type: 'ready' } satisfies FromSandbox),
        (error: Error) => port.postMessage({ type: 'init_failed', error: error.message } satisfies FromSandbox),
      );
    } else if (message.type === 'run') {
      void run(message);
    } else if (message.type === 'reply') {
      reply(message);
    }
  });
}
