import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { FromSandbox, ToSandbox } from './sandbox-worker';

/** Limits of one plugin's sandbox. */
export interface SandboxLimits {
  /** QuickJS heap limit. @default 16 MiB */
  memoryBytes?: number;
  /** CPU time the VM may spend on one event (host calls not counted). @default 200 ms */
  cpuMs?: number;
  /** Wall-clock time one event may take, host calls included; past it the worker is terminated. @default 10 s */
  wallMs?: number;
  /** Time the worker may take to start and load the plugin's module. @default 30 s */
  loadMs?: number;
}

/** What the host does for a plugin's `ctx` (kv, http, api): answers a JSON string or throws. */
export type CapabilityHandler = (capability: string, args: unknown[]) => Promise<unknown>;

export interface SandboxSpec {
  code: string;
  config: unknown;
  permissions: readonly string[];
  limits?: SandboxLimits;
  capabilities: CapabilityHandler;
  log(level: 'info' | 'warn' | 'error', message: string): void;
}

/** A plugin hook that did not complete: the plugin threw, ran out of budget or memory, or its sandbox broke. */
export class SandboxError extends Error {}

const WORKER_FILE = require.resolve('./sandbox-worker');
let transpiled: string | undefined;

/**
 * Compiled, the worker is its own .js file. Under ts-node or Jest it is TypeScript: it is transpiled
 * once here (typescript is loaded there anyway) and started as an eval worker, because registering
 * ts-node in every worker costs a second of CPU per plugin.
 */
function newWorker(options: ConstructorParameters<typeof Worker>[1]): Worker {
  if (!WORKER_FILE.endsWith('.ts')) return new Worker(WORKER_FILE, options);
  if (transpiled === undefined) {
    const ts = require('typescript') as typeof import('typescript');
    transpiled = ts.transpileModule(readFileSync(WORKER_FILE, 'utf8'), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
  }
  return new Worker(transpiled, { ...options, eval: true });
}

/**
 * One plugin's QuickJS runtime in a worker thread of its own (DESIGN.md §9): a memory limit, a CPU
 * budget per event (the VM's interrupt handler), a small V8 heap and stack for the thread, and a
 * wall-clock backstop that terminates the worker — an allocation loop can run past the interrupt
 * handler's polling, and nothing the plugin does can block the service's own thread. Hooks run one
 * at a time. After a failure that may have left the VM broken the next run starts a fresh one.
 */
export class PluginSandbox {
  private worker?: Worker;
  private starting?: Promise<Worker>;
  private nextRun = 1;
  private readonly runs = new Map<number, { resolve(cpuMs: number): void; reject(error: Error): void }>();
  private readonly limits: Required<SandboxLimits>;

  constructor(private readonly spec: SandboxSpec) {
    this.limits = { memoryBytes: 16 * 1024 * 1024, cpuMs: 200, wallMs: 10_000, loadMs: 30_000, ...spec.limits };
  }

  /** Starts the worker and loads the plugin; throws SandboxError when the code does not load. */
  async start(): Promise<void> {
    await this.ready();
  }

  private ready(): Promise<Worker> {
    if (this.worker) return Promise.resolve(this.worker);
    this.starting ??= this.spawn().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private spawn(): Promise<Worker> {
    const worker = newWorker({
      workerData: { encedeusPluginSandbox: true },
      // The VM's own heap is WebAssembly memory (limited by memoryBytes); V8's stays small.
      resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8, stackSizeMb: 16 },
      env: {},
    });
    worker.unref();
    const permissions = this.spec.permissions;
    const init: ToSandbox = {
      type: 'init',
      code: this.spec.code,
      config: this.spec.config,
      capabilities: { kv: permissions.includes('kv'), http: permissions.some((p) => p.startsWith('http:')), api: permissions.some((p) => p.startsWith('api:')) },
      memoryBytes: this.limits.memoryBytes,
      cpuMs: this.limits.cpuMs,
    };
    return new Promise<Worker>((resolve, reject) => {
      let loaded = false;
      const timer = setTimeout(() => {
        void worker.terminate();
        reject(new SandboxError(`the plugin did not load within ${this.limits.loadMs} ms`));
      }, this.limits.loadMs);
      worker.on('message', (message: FromSandbox) => {
        switch (message.type) {
          case 'ready':
            loaded = true;
            clearTimeout(timer);
            this.worker = worker;
            resolve(worker);
            return;
          case 'init_failed':
            clearTimeout(timer);
            void worker.terminate();
            reject(new SandboxError(`the plugin did not load: ${message.error}`));
            return;
          case 'log':
            this.spec.log(message.level, message.message);
            return;
          case 'call':
            void this.answer(worker, message);
            return;
          case 'done': {
            const run = this.runs.get(message.id);
            this.runs.delete(message.id);
            if (message.ok) run?.resolve(message.cpuMs);
            else run?.reject(new SandboxError(message.error ?? 'failed'));
            return;
          }
        }
      });
      const gone = (why: string) => {
        clearTimeout(timer);
        if (this.worker === worker) this.worker = undefined;
        if (!loaded) reject(new SandboxError(`the sandbox stopped while loading: ${why}`));
        for (const run of this.runs.values()) run.reject(new SandboxError(`the sandbox stopped: ${why}`));
        this.runs.clear();
      };
      worker.on('error', (error) => gone(error.message));
      worker.on('exit', (code) => gone(`exit ${code}`));
      worker.postMessage(init);
    });
  }

  private async answer(worker: Worker, message: Extract<FromSandbox, { type: 'call' }>): Promise<void> {
    let reply: ToSandbox;
    try {
      const args = JSON.parse(message.args) as unknown[];
      const value = await this.spec.capabilities(message.capability, Array.isArray(args) ? args : []);
      reply = { type: 'reply', callId: message.callId, ok: true, value: value === undefined ? undefined : JSON.stringify(value) };
    } catch (error) {
      reply = { type: 'reply', callId: message.callId, ok: false, error: (error as Error).message.slice(0, 1000) };
    }
    if (this.worker === worker) worker.postMessage(reply);
  }

  /**
   * Runs one hook (onEvent with the CloudEvent, or onInstall/onEnable/onDisable). Resolves with the
   * CPU time the VM spent; throws SandboxError when the plugin failed. A hook the plugin does not
   * define succeeds at once.
   */
  async run(hook: 'onEvent' | 'onInstall' | 'onEnable' | 'onDisable', event?: unknown): Promise<number> {
    const worker = await this.ready();
    const id = this.nextRun++;
    // The budget of a hook starts when it is sent, not while the sandbox loads.
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<number>((resolve, reject) => {
        this.runs.set(id, { resolve, reject });
        timer = setTimeout(() => {
          this.runs.delete(id);
          reject(new SandboxError(`the hook ran longer than ${this.limits.wallMs} ms and was stopped`));
          void this.restart();
        }, this.limits.wallMs);
        worker.postMessage({ type: 'run', id, hook, event } satisfies ToSandbox);
      });
    } catch (error) {
      // The VM may be left mid-allocation or interrupted: the next run gets a fresh one.
      void this.restart();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the worker; the next run starts a fresh one. */
  async restart(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  /** Stops the sandbox for good (a stopped sandbox may still be started again by run). */
  async stop(): Promise<void> {
    await this.restart();
  }
}
