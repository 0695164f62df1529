import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SliceWatch, type FromSandbox, type ToSandbox } from './sandbox-worker';

/** Limits of one plugin's sandbox. */
export interface SandboxLimits {
  /** QuickJS heap limit. @default 16 MiB */
  memoryBytes?: number;
  /** CPU time the VM may spend on one event (host calls not counted). @default 200 ms */
  cpuMs?: number;
  /** Wall-clock time one event may take, host calls included; past it the worker is terminated. @default 10 s */
  wallMs?: number;
  /** Time the plugin's module may take to load. @default 30 s */
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

/**
 * A plugin hook that did not complete: the plugin threw, ran out of budget or memory, or its
 * sandbox broke. `collateral` is set when another plugin's runaway made the pool terminate the
 * worker this one shared: not this plugin's fault, so not counted against it.
 */
export class SandboxError extends Error {
  constructor(
    message: string,
    readonly collateral = false,
  ) {
    super(message);
    this.name = 'SandboxError';
  }
}

const WORKER_FILE = require.resolve('./sandbox-worker');
/** How far past its CPU budget a VM may hold its thread before the watchdog ends the thread. */
const WATCHDOG_GRACE_MS = 1000;
let transpiled: string | undefined;

/**
 * Compiled, the worker is its own .js file. Under ts-node or Jest it is TypeScript: it is transpiled
 * once here (typescript is loaded there anyway) and started as an eval worker, because registering
 * ts-node in a worker costs a second of CPU.
 */
function newWorker(options: ConstructorParameters<typeof Worker>[1]): Worker {
  if (!WORKER_FILE.endsWith('.ts')) return new Worker(WORKER_FILE, options);
  if (transpiled === undefined) {
    const ts = require('typescript') as typeof import('typescript');
    transpiled = ts.transpileModule(readFileSync(WORKER_FILE, 'utf8'), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
  }
  return new Worker(transpiled, { ...options, eval: true });
}

/** What a pool worker tells the sandbox that lives on it. */
interface Tenant {
  onMessage(message: FromSandbox): void;
  /** The worker ended (terminated by the pool for `culprit`, or crashed). */
  onGone(why: string, culprit: string | undefined): void;
}

/** One worker thread of the pool and the plugins whose runtimes it holds. */
class PoolWorker {
  readonly tenants = new Map<string, Tenant>();
  private culprit?: string;
  gone = false;
  /** Bytes of runtimes dropped without freeing (after failed hooks); past the pool's limit the thread is retired. */
  dropped = 0;
  retired = false;
  /** Being ended (a runaway tenant): nothing more is sent to it. */
  terminating = false;
  readonly worker: Worker;

  /** What the worker's VMs run now (shared memory, read by the watchdog and busyWith). */
  private readonly watch = new SliceWatch();
  /** Numeric slot of each tenant in `watch`. */
  private readonly slots = new Map<number, string>();
  private nextSlot = 0;
  private readonly watchdog: NodeJS.Timeout;

  constructor(
    private readonly onExit: (w: PoolWorker) => void,
    private readonly onRetire: (w: PoolWorker) => void = onExit,
  ) {
    this.worker = newWorker({
      workerData: { encedeusPluginSandbox: true, watch: this.watch.buffer },
      // The runtimes' heaps are WebAssembly memory (each limited by memoryBytes); V8's stays small.
      resourceLimits: { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 16, stackSizeMb: 16 },
      env: {},
    });
    this.worker.unref();
    this.worker.on('message', (message: FromSandbox) => this.tenants.get(message.key)?.onMessage(message));
    const end = (why: string) => {
      if (this.gone) return;
      this.gone = true;
      clearInterval(this.watchdog);
      this.onExit(this);
      for (const tenant of this.tenants.values()) tenant.onGone(why, this.culprit);
      this.tenants.clear();
    };
    this.worker.on('error', (error) => end(error.message));
    this.worker.on('exit', (code) => end(`exit ${code}`));
    /*
     * QuickJS polls its interrupt handler by operation count, so one long native operation (a huge
     * string, an allocation spree) outruns the budget and holds the whole thread. A VM still inside
     * one slice WATCHDOG_GRACE_MS past its budget has its thread ended, and is named as the culprit:
     * the plugins sharing the thread are not blamed for the wait.
     */
    this.watchdog = setInterval(() => {
      const r = this.watch.read();
      if (r && performance.timeOrigin + performance.now() - r.since > r.budgetMs + WATCHDOG_GRACE_MS) {
        const key = this.slots.get(r.slot);
        if (key) this.terminate(key);
      }
    }, 100);
    this.watchdog.unref();
  }

  /** A slot for a new tenant's VM. */
  slotFor(key: string): number {
    const slot = this.nextSlot++;
    this.slots.set(slot, key);
    return slot;
  }

  /** The tenant whose VM holds the thread now, if any. */
  get busyWith(): string | undefined {
    const r = this.watch.read();
    return r ? this.slots.get(r.slot) : undefined;
  }

  post(message: ToSandbox): void {
    if (!this.gone) this.worker.postMessage(message);
  }

  /** Removes a tenant; a retired thread with no tenant left ends. */
  leave(key: string, free: boolean, bytes: number): void {
    this.tenants.delete(key);
    for (const [slot, k] of this.slots) if (k === key) this.slots.delete(slot);
    this.post({ type: 'dispose', key, free });
    if (!free) this.dropped += bytes;
    if (this.retired && this.tenants.size === 0) void this.worker.terminate();
  }

  /** Ends the thread because of one tenant's runaway hook; the others start again elsewhere. */
  terminate(culprit: string): void {
    this.culprit ??= culprit;
    this.terminating = true;
    this.retired = true;
    this.onRetire(this);
    void this.worker.terminate();
  }
}

/**
 * The worker threads plugin runtimes live in (DESIGN.md §9): each plugin has its own QuickJS
 * runtime (memory limit, CPU budget, interrupt handler), and runtimes share a few threads instead
 * of a thread each — a runtime costs well under a MiB, a thread tens. A runaway that outruns its
 * interrupt handler is ended by terminating its thread; the other plugins on it load again on a
 * fresh thread and their interrupted events are retried without counting against them.
 */
export class SandboxPool {
  private static sharedPool?: SandboxPool;
  private readonly workers: PoolWorker[] = [];

  constructor(
    private readonly size = Math.max(1, Math.min(4, availableParallelism() - 1)),
    /** Memory of dropped runtimes a thread may hold before it takes no new tenant and ends with its last. */
    private readonly maxDroppedBytes = 256 * 1024 * 1024,
  ) {}

  /** The process's pool. */
  static shared(): SandboxPool {
    return (SandboxPool.sharedPool ??= new SandboxPool(Number(process.env.PLUGINS_SANDBOX_THREADS) || undefined));
  }

  /** A worker for one more runtime: a new thread while under `size`, else the one holding fewest. */
  acquire(): PoolWorker {
    for (const w of [...this.workers]) {
      if (w.dropped <= this.maxDroppedBytes) continue;
      w.retired = true;
      this.workers.splice(this.workers.indexOf(w), 1);
      if (w.tenants.size === 0) void w.worker.terminate();
    }
    if (this.workers.length < this.size) {
      const w = new PoolWorker((gone) => {
        const i = this.workers.indexOf(gone);
        if (i >= 0) this.workers.splice(i, 1);
      });
      this.workers.push(w);
      return w;
    }
    return this.workers.reduce((a, b) => (b.tenants.size < a.tenants.size ? b : a));
  }

  /** Threads alive now. */
  get threads(): number {
    return this.workers.length;
  }
}

/**
 * One plugin's sandbox: its QuickJS runtime on a thread of the SandboxPool. Hooks run one at a
 * time. A failed hook leaves a fresh runtime for the next (the VM may be mid-allocation or
 * interrupted); a hook past its wall clock terminates the thread.
 */
export class PluginSandbox {
  private readonly key = randomUUID();
  private host?: PoolWorker;
  private starting?: Promise<PoolWorker>;
  private nextRun = 1;
  private readonly runs = new Map<number, { resolve(cpuMs: number): void; reject(error: Error): void }>();
  private readonly limits: Required<SandboxLimits>;

  constructor(
    private readonly spec: SandboxSpec,
    private readonly pool: SandboxPool = SandboxPool.shared(),
  ) {
    this.limits = { memoryBytes: 16 * 1024 * 1024, cpuMs: 200, wallMs: 10_000, loadMs: 30_000, ...spec.limits };
  }

  /** Loads the plugin into a runtime; throws SandboxError when the code does not load. */
  async start(): Promise<void> {
    await this.ready();
  }

  private ready(): Promise<PoolWorker> {
    if (this.host && !this.host.gone && !this.host.terminating) return Promise.resolve(this.host);
    // Its thread is being ended: the runtime is lost with it.
    if (this.host?.terminating) this.host = undefined;
    // A load cut short by another plugin's runaway (its thread was ended) is tried once more elsewhere.
    this.starting ??= this.load()
      .catch((error: unknown) => (error instanceof SandboxError && error.collateral ? this.load() : Promise.reject(error)))
      .finally(() => (this.starting = undefined));
    return this.starting;
  }

  private load(): Promise<PoolWorker> {
    const host = this.pool.acquire();
    const permissions = this.spec.permissions;
    return new Promise<PoolWorker>((resolve, reject) => {
      let loaded = false;
      const timer = setTimeout(() => {
        host.leave(this.key, false, this.limits.memoryBytes);
        reject(new SandboxError(`the plugin did not load within ${this.limits.loadMs} ms`));
      }, this.limits.loadMs);
      host.tenants.set(this.key, {
        onMessage: (message) => {
          switch (message.type) {
            case 'ready':
              loaded = true;
              clearTimeout(timer);
              this.host = host;
              resolve(host);
              return;
            case 'init_failed':
              clearTimeout(timer);
              host.leave(this.key, false, this.limits.memoryBytes);
              reject(new SandboxError(`the plugin did not load: ${message.error}`));
              return;
            case 'log':
              this.spec.log(message.level, message.message);
              return;
            case 'call':
              void this.answer(host, message);
              return;
            case 'done': {
              const run = this.runs.get(message.id);
              this.runs.delete(message.id);
              if (message.ok) run?.resolve(message.cpuMs);
              else run?.reject(new SandboxError(message.error ?? 'failed'));
              return;
            }
          }
        },
        onGone: (why, culprit) => {
          clearTimeout(timer);
          if (this.host === host) this.host = undefined;
          const collateral = culprit !== undefined && culprit !== this.key;
          if (!loaded) reject(new SandboxError(`the sandbox stopped while loading: ${why}`, collateral));
          const own = culprit === this.key ? `ran past its CPU budget of ${this.limits.cpuMs} ms inside one operation (an allocation or a huge string) and its thread was ended` : `the sandbox stopped: ${why}`;
          for (const run of this.runs.values()) run.reject(new SandboxError(collateral ? 'another plugin on this sandbox thread was stopped; retried' : own, collateral));
          this.runs.clear();
        },
      });
      host.post({
        type: 'init',
        key: this.key,
        slot: host.slotFor(this.key),
        code: this.spec.code,
        config: this.spec.config,
        capabilities: { kv: permissions.includes('kv'), http: permissions.some((p) => p.startsWith('http:')), api: permissions.some((p) => p.startsWith('api:')) },
        memoryBytes: this.limits.memoryBytes,
        cpuMs: this.limits.cpuMs,
      });
    });
  }

  private async answer(host: PoolWorker, message: Extract<FromSandbox, { type: 'call' }>): Promise<void> {
    let reply: ToSandbox;
    try {
      const args = JSON.parse(message.args) as unknown[];
      const value = await this.spec.capabilities(message.capability, Array.isArray(args) ? args : []);
      reply = { type: 'reply', key: this.key, callId: message.callId, ok: true, value: value === undefined ? undefined : JSON.stringify(value) };
    } catch (error) {
      reply = { type: 'reply', key: this.key, callId: message.callId, ok: false, error: (error as Error).message.slice(0, 1000) };
    }
    if (this.host === host) host.post(reply);
  }

  /**
   * Runs one hook (onEvent with the CloudEvent, or onInstall/onEnable/onDisable). Resolves with the
   * CPU time the VM spent; throws SandboxError when the plugin failed. A hook the plugin does not
   * define succeeds at once.
   */
  async run(hook: 'onEvent' | 'onInstall' | 'onEnable' | 'onDisable', event?: unknown): Promise<number> {
    const host = await this.ready();
    const id = this.nextRun++;
    let timer: NodeJS.Timeout | undefined;
    try {
      // The budget of a hook starts when it is sent, not while the sandbox loads.
      return await new Promise<number>((resolve, reject) => {
        this.runs.set(id, { resolve, reject });
        const expire = () => {
          // Waiting behind another plugin's VM is not this plugin's fault: the watchdog ends that one.
          const blocker = host.busyWith;
          if (blocker && blocker !== this.key && !host.gone) {
            timer = setTimeout(expire, 500);
            return;
          }
          this.runs.delete(id);
          reject(new SandboxError(`the hook ran longer than ${this.limits.wallMs} ms and was stopped`));
          host.terminate(this.key);
        };
        timer = setTimeout(expire, this.limits.wallMs);
        host.post({ type: 'run', key: this.key, id, hook, event });
      });
    } catch (error) {
      // The VM may be left mid-allocation or interrupted: the next run gets a fresh runtime.
      if (!(error instanceof SandboxError && error.collateral)) this.unload(false);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Leaves the thread: `free` for a healthy runtime, dropped (counted against the thread) after a failure. */
  private unload(free: boolean): void {
    const host = this.host;
    this.host = undefined;
    host?.leave(this.key, free, this.limits.memoryBytes);
  }

  /** Frees the plugin's runtime (a later run loads it again). */
  async stop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    this.unload(this.runs.size === 0);
  }

  /** Same as stop; kept for callers that restart after a change. */
  async restart(): Promise<void> {
    await this.stop();
  }
}
