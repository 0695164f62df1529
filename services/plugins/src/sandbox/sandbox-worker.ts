import { parentPort, workerData } from 'node:worker_threads';
import { getQuickJS, type QuickJSContext, type QuickJSDeferredPromise, type QuickJSHandle, type QuickJSRuntime, type QuickJSWASMModule } from 'quickjs-emscripten';

/*
 * QuickJS runtimes of plugins in one worker thread of the sandbox pool (sandbox/plugin-sandbox.ts).
 * Each plugin has a runtime of its own (its own heap, memory limit, interrupt handler and CPU
 * budget); they share the thread and the WebAssembly module. The plugin's code sees only what the
 * bootstrap below gives it: standard JavaScript, no module loader (so no import), no require, no
 * fs, no network, and a `ctx` whose capabilities call the host through one function,
 * `__host(capability, argsJson)`, answered as a promise. Everything crossing the boundary is a
 * JSON string.
 */

export type ToSandbox =
  | { type: 'init'; key: string; slot: number; code: string; config: unknown; capabilities: { kv: boolean; http: boolean; api: boolean }; memoryBytes: number; cpuMs: number }
  | { type: 'run'; key: string; id: number; hook: 'onEvent' | 'onInstall' | 'onEnable' | 'onDisable'; event?: unknown }
  | { type: 'reply'; key: string; callId: number; ok: boolean; value?: string; error?: string }
  | { type: 'dispose'; key: string; free: boolean };

export type FromSandbox =
  | { type: 'ready'; key: string }
  | { type: 'init_failed'; key: string; error: string }
  | { type: 'call'; key: string; callId: number; capability: string; args: string }
  | { type: 'log'; key: string; level: 'info' | 'warn' | 'error'; message: string }
  | { type: 'done'; key: string; id: number; ok: boolean; error?: string; cpuMs: number };

/**
 * What the pool's watchdog reads, shared with the worker (a message per slice doubled the messages
 * of every event): the slot of the VM running now (-1: none), a sequence bumped at every slice,
 * when the slice started (ms since the epoch, performance.timeOrigin + now) and what was left of
 * its CPU budget.
 */
export class SliceWatch {
  private readonly ints: Int32Array;
  private readonly floats: Float64Array;

  readonly buffer: SharedArrayBuffer;

  /** A new one (the pool), or a view of the pool's (the worker). */
  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(32);
    this.ints = new Int32Array(this.buffer, 0, 2);
    this.floats = new Float64Array(this.buffer, 8, 3);
    if (!buffer) Atomics.store(this.ints, 0, -1);
  }

  /** Worker: a slice of `slot` starts with `budgetMs` left. */
  start(slot: number, budgetMs: number): void {
    this.floats[0] = performance.timeOrigin + performance.now();
    this.floats[1] = budgetMs;
    Atomics.add(this.ints, 1, 1);
    Atomics.store(this.ints, 0, slot);
  }

  /** Worker: the slice ended. */
  end(): void {
    Atomics.store(this.ints, 0, -1);
  }

  /** Pool: the slot running now, since when and with what budget (undefined: none, or read mid-change). */
  read(): { slot: number; since: number; budgetMs: number } | undefined {
    const slot = Atomics.load(this.ints, 0);
    if (slot < 0) return undefined;
    const seq = Atomics.load(this.ints, 1);
    const since = this.floats[0];
    const budgetMs = this.floats[1];
    if (Atomics.load(this.ints, 1) !== seq || Atomics.load(this.ints, 0) !== slot) return undefined;
    return { slot, since, budgetMs };
  }
}

/**
 * Hides the host function and defines `__setup(capsJson, configJson)`, which defines `ctx` and
 * `__run` inside the VM. Capabilities absent from the manifest are absent from ctx. Evaluated in
 * spare contexts ahead of time (see Spare), so a plugin's start only calls __setup.
 */
const BOOTSTRAP = `
(function () {
  const host = globalThis.__host;
  delete globalThis.__host;
  globalThis.__setup = function (capsJson, configJson) {
  delete globalThis.__setup;
  const caps = JSON.parse(capsJson);
  const config = JSON.parse(configJson);
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
    // Called at once: a synchronous loop or allocation fails inside this call, not in a job.
    return Promise.resolve(fn.call(plugin, eventJson === undefined ? undefined : JSON.parse(eventJson), frozen));
  };
  };
})();
`;

/** Loading gets a budget of its own: V8 compiles QuickJS's WebAssembly lazily, so a fresh worker's first evaluations are slow; the plugin's top level still cannot run for ever. */
const LOAD_CPU_MS = 2000;

/**
 * A QuickJS runtime and context made ahead of time, with the bootstrap evaluated: starting a plugin
 * takes one (limits, __setup, the module) instead of paying for the runtime, the context and the
 * bootstrap's parse while the caller waits. The host function calls whichever plugin owns it.
 */
interface Spare {
  runtime: QuickJSRuntime;
  vm: QuickJSContext;
  owner: { rt?: PluginRuntime };
}

/** Spare contexts a worker keeps ready. */
const SPARES = 2;
const spares: Spare[] = [];
let refilling = false;

function makeSpare(QuickJS: QuickJSWASMModule): Spare {
  const runtime = QuickJS.newRuntime();
  const vm = runtime.newContext();
  const owner: Spare['owner'] = {};
  const host = vm.newFunction('__host', (capHandle, argsHandle) => (owner.rt ? owner.rt.hostCall(vm.getString(capHandle), vm.getString(argsHandle)) : vm.undefined));
  vm.setProp(vm.global, '__host', host);
  host.dispose();
  const boot = vm.evalCode(BOOTSTRAP, 'bootstrap.js', { type: 'global' });
  if (boot.error) {
    boot.error.dispose();
    vm.dispose();
    runtime.dispose();
    throw new Error('bootstrap failed');
  }
  boot.value.dispose();
  return { runtime, vm, owner };
}

/** Takes a spare (or makes one now) and schedules the refill for when the thread is idle. */
function takeSpare(QuickJS: QuickJSWASMModule): Spare {
  const spare = spares.pop() ?? makeSpare(QuickJS);
  scheduleRefill(QuickJS);
  return spare;
}

function scheduleRefill(QuickJS: QuickJSWASMModule): void {
  if (refilling) return;
  refilling = true;
  // Right after the start that took a spare has answered: while its caller handles the answer
  // (and sends the next start of a burst), the next spare is made.
  setImmediate(() => {
    refilling = false;
    if (spares.length >= SPARES) return;
    try {
      spares.push(makeSpare(QuickJS));
    } catch {
      return;
    }
    if (spares.length < SPARES) scheduleRefill(QuickJS);
  });
}

/**
 * V8 compiles QuickJS's WebAssembly lazily and tiers it up as it runs: a fresh thread's first
 * plugin starts took 10-50 ms where a warm one takes about one. So a new thread first runs a few
 * throwaway plugins through the whole path (runtime, context, bootstrap, setup, module, a hook)
 * before it takes its first plugin: the thread's start (already the slow one) pays for it once.
 */
const WARMUP_ROUNDS = 24;
const WARMUP_PLUGIN = 'export default { n: 0, onEvent(event, ctx) { this.n += JSON.stringify(event).length; return Promise.resolve(this.n); } };';

function warmUp(QuickJS: QuickJSWASMModule): void {
  for (let i = 0; i < WARMUP_ROUNDS; i++) {
    try {
      const { runtime, vm } = makeSpare(QuickJS);
      const setup = vm.getProp(vm.global, '__setup');
      const args = [vm.newString('{"kv":true,"http":true,"api":true}'), vm.newString('{"url":"x"}')];
      vm.callFunction(setup, vm.undefined, args).dispose();
      args.forEach((h) => h.dispose());
      setup.dispose();
      vm.evalCode(WARMUP_PLUGIN, 'warmup.js', { type: 'module', strict: true }).dispose();
      runtime.executePendingJobs().dispose();
      vm.dispose();
      runtime.dispose();
    } catch {
      return;
    }
  }
}

/** QuickJS compiled and warmed in this thread, with its first spares made. */
let quickJS: Promise<QuickJSWASMModule> | undefined;
function warmQuickJS(): Promise<QuickJSWASMModule> {
  return (quickJS ??= getQuickJS().then((QuickJS) => {
    warmUp(QuickJS);
    for (let i = 0; i < SPARES; i++) spares.push(makeSpare(QuickJS));
    return QuickJS;
  }));
}

/** One plugin's runtime and the state of the hook it runs. */
class PluginRuntime {
  runtime!: QuickJSRuntime;
  vm!: QuickJSContext;
  plugin?: QuickJSHandle;
  runFn?: QuickJSHandle;
  cpuMs: number;
  /** CPU spent inside the VM by the current hook, and when the current slice started. */
  spent = 0;
  sliceStart = 0;
  interrupted = false;
  nextCall = 1;
  readonly calls = new Map<number, QuickJSDeferredPromise>();
  pumpAfterReply?: () => void;
  failRun?: (text: string) => void;

  constructor(
    readonly key: string,
    readonly slot: number,
    private readonly post: (message: FromSandbox) => void,
    private readonly watch: SliceWatch,
    readonly budgetMs: number,
  ) {
    this.cpuMs = Math.max(budgetMs, LOAD_CPU_MS);
  }

  /** Runs `work` inside the VM as one slice of the hook's CPU budget (the pool's watchdog sees it through `watch`). */
  slice<T>(work: () => T): T {
    this.sliceStart = performance.now();
    this.watch.start(this.slot, Math.max(0, this.cpuMs - this.spent));
    try {
      return work();
    } finally {
      this.spent += performance.now() - this.sliceStart;
      this.sliceStart = 0;
      this.watch.end();
    }
  }

  /** `__host(capability, argsJson)` from inside the VM: a log line, or a host call answered as a promise. */
  hostCall(capability: string, args: string): QuickJSHandle {
    const vm = this.vm;
    if (capability === 'log') {
      try {
        const { level, message: text } = JSON.parse(args) as { level: 'info' | 'warn' | 'error'; message: string };
        this.post({ type: 'log', key: this.key, level, message: String(text).slice(0, 4000) });
      } catch {
        // A log line that is not JSON is dropped.
      }
      return vm.undefined;
    }
    const deferred = vm.newPromise();
    const callId = this.nextCall++;
    this.calls.set(callId, deferred);
    this.post({ type: 'call', key: this.key, callId, capability, args });
    return deferred.handle;
  }

  errorText(handle: QuickJSHandle): string {
    const dumped = this.vm.dump(handle) as unknown;
    if (dumped && typeof dumped === 'object') {
      const e = dumped as { name?: string; message?: string };
      return `${e.name ?? 'Error'}: ${e.message ?? JSON.stringify(dumped)}`.slice(0, 2000);
    }
    return String(dumped).slice(0, 2000);
  }

  /** Why the VM stopped, in words: the budget, the memory limit, or what the plugin threw. */
  reason(message: string): string {
    if (this.interrupted) return `CPU budget of ${this.cpuMs} ms exceeded`;
    if (/out of memory/i.test(message)) return `memory limit exceeded (${message})`;
    return message;
  }

  async init(message: Extract<ToSandbox, { type: 'init' }>): Promise<void> {
    const QuickJS = await warmQuickJS();
    const spare = takeSpare(QuickJS);
    this.runtime = spare.runtime;
    const vm = (this.vm = spare.vm);
    spare.owner.rt = this;
    this.runtime.setMemoryLimit(message.memoryBytes);
    this.runtime.setMaxStackSize(256 * 1024);
    // Polled by operation count: the budget is checked while the VM runs, never between slices.
    this.runtime.setInterruptHandler(() => {
      if (this.sliceStart > 0 && this.spent + (performance.now() - this.sliceStart) > this.cpuMs) {
        this.interrupted = true;
        return true;
      }
      return false;
    });
    const setup = vm.getProp(vm.global, '__setup');
    const args = [vm.newString(JSON.stringify(message.capabilities)), vm.newString(JSON.stringify(message.config ?? {}))];
    const boot = this.slice(() => vm.callFunction(setup, vm.undefined, args));
    args.forEach((h) => h.dispose());
    setup.dispose();
    if (boot.error) {
      const text = this.errorText(boot.error);
      boot.error.dispose();
      throw new Error(`bootstrap: ${text}`);
    }
    boot.value.dispose();
    this.runFn = vm.getProp(vm.global, '__run');

    this.spent = 0;
    this.interrupted = false;
    const loaded = this.slice(() => vm.evalCode(message.code, 'plugin.js', { type: 'module', strict: true }));
    if (loaded.error) {
      const text = this.reason(this.errorText(loaded.error));
      loaded.error.dispose();
      throw new Error(text);
    }
    let exports = loaded.value;
    const state = vm.getPromiseState(exports);
    if (state.type === 'fulfilled' && !state.notAPromise) {
      exports.dispose();
      exports = state.value;
    } else if (state.type !== 'fulfilled') {
      // Top-level await: the module's exports arrive as a promise.
      const settled = vm.resolvePromise(exports);
      this.slice(() => this.runtime.executePendingJobs());
      exports.dispose();
      const result = await settled;
      if (result.error) {
        const text = this.reason(this.errorText(result.error));
        result.error.dispose();
        throw new Error(text);
      }
      exports = result.value;
    }
    this.plugin = vm.getProp(exports, 'default');
    exports.dispose();
    this.cpuMs = this.budgetMs;
    if (vm.typeof(this.plugin) !== 'object' && vm.typeof(this.plugin) !== 'function') throw new Error('the entry module has no default export (an object with onEvent)');
  }

  /** Runs pending jobs until the hook's promise settles, a slice at a time (host calls answer in between). */
  async run(message: Extract<ToSandbox, { type: 'run' }>): Promise<void> {
    this.spent = 0;
    this.interrupted = false;
    const done = (ok: boolean, error?: string) =>
      this.post({ type: 'done', key: this.key, id: message.id, ok, error, cpuMs: Math.round(this.spent * 100) / 100 });
    const vm = this.vm;
    if (!vm || !this.plugin || !this.runFn) return done(false, 'the sandbox is not initialised');
    const args = [this.plugin, vm.newString(message.hook), message.event === undefined ? vm.undefined : vm.newString(JSON.stringify(message.event))];
    const called = this.slice(() => vm.callFunction(this.runFn!, vm.undefined, args));
    args.slice(1).forEach((h) => h !== vm.undefined && h.dispose());
    if (called.error) {
      const text = this.reason(this.errorText(called.error));
      called.error.dispose();
      return done(false, text);
    }
    const promise = called.value;
    const settled = vm.resolvePromise(promise);
    const pump = () => {
      const jobs = this.slice(() => this.runtime.executePendingJobs());
      if (jobs.error) {
        const text = this.reason(this.errorText(jobs.error));
        jobs.error.dispose();
        throw new Error(text);
      }
      // Nothing left to run and no host call to wait for, yet pending: it can never settle (a
      // rejection that could not even be allocated, or a promise nobody resolves).
      if (this.calls.size === 0 && !this.runtime.hasPendingJob() && vm.getPromiseState(promise).type === 'pending') {
        throw new Error(this.interrupted ? this.reason('') : 'the hook returned a promise that can never settle (out of memory, or never resolved)');
      }
    };
    const failed = new Promise<never>((_, reject) => (this.failRun = (text) => reject(new Error(text))));
    try {
      this.pumpAfterReply = pump;
      pump();
      const result = await Promise.race([settled, failed]);
      if (result.error) {
        const text = this.reason(this.errorText(result.error));
        result.error.dispose();
        return done(false, text);
      }
      result.value.dispose();
      if (this.interrupted) return done(false, this.reason(''));
      done(true);
    } catch (error) {
      done(false, (error as Error).message);
    } finally {
      this.pumpAfterReply = undefined;
      this.failRun = undefined;
      promise.dispose();
    }
  }

  reply(message: Extract<ToSandbox, { type: 'reply' }>): void {
    const deferred = this.calls.get(message.callId);
    if (!deferred) return;
    this.calls.delete(message.callId);
    const vm = this.vm;
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
      this.pumpAfterReply?.();
    } catch (error) {
      // An uncatchable error (budget, memory) inside a job: the hook's promise will never settle.
      this.failRun?.((error as Error).message);
    }
  }

  /** Frees the runtime. A VM left mid-allocation may refuse to be freed cleanly: the handles are dropped either way. */
  dispose(): void {
    try {
      for (const d of this.calls.values()) d.dispose();
      this.plugin?.dispose();
      this.runFn?.dispose();
      this.vm?.dispose();
      this.runtime?.dispose();
    } catch {
      // A broken runtime leaks its memory into this worker until the pool recycles it.
    }
  }
}

if (workerData?.encedeusPluginSandbox) {
  const port = parentPort!;
  const post = (message: FromSandbox) => port.postMessage(message);
  const watch = new SliceWatch(workerData.watch as SharedArrayBuffer);
  const runtimes = new Map<string, PluginRuntime>();
  // Compile and warm QuickJS, and make the first spares, before the first plugin asks.
  void warmQuickJS();
  port.on('message', (message: ToSandbox) => {
    switch (message.type) {
      case 'init': {
        const rt = new PluginRuntime(message.key, message.slot, post, watch, message.cpuMs);
        runtimes.set(message.key, rt);
        rt.init(message).then(
          () => post({ type: 'ready', key: message.key }),
          (error: Error) => {
            if (runtimes.get(message.key) === rt) runtimes.delete(message.key);
            post({ type: 'init_failed', key: message.key, error: error.message });
          },
        );
        return;
      }
      case 'run': {
        const rt = runtimes.get(message.key);
        if (!rt) post({ type: 'done', key: message.key, id: message.id, ok: false, error: 'the sandbox is not initialised', cpuMs: 0 });
        else void rt.run(message);
        return;
      }
      case 'reply':
        runtimes.get(message.key)?.reply(message);
        return;
      case 'dispose':
        // A runtime that failed a hook may still hold handles of the hook (a promise that never
        // settled): freeing it would trip QuickJS's leak assertion and abort the whole thread, so it
        // is dropped instead and the pool recycles the thread once enough is dropped.
        if (message.free) runtimes.get(message.key)?.dispose();
        runtimes.delete(message.key);
        return;
    }
  });
}
