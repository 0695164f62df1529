import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** Back-off before the n-th restart in a row (1-based): 1 s, 2 s, 4 s … capped at 30 s. */
export function restartDelayMs(attempt: number): number {
  return Math.min(1000 * 2 ** (Math.max(1, attempt) - 1), 30_000);
}

/** A child that ran this long counts as healthy: its next crash starts the back-off from 1 s again. */
export const STABLE_AFTER_MS = 60_000;

export interface SupervisedOptions {
  name: string;
  command: string;
  args: string[];
  spawn: SpawnOptions;
  log: (message: string) => void;
  /** Called with every new child, to pipe its output. */
  onStart?: (child: ChildProcess) => void;
  /** An exit with code 0 is a deliberate stop (a revoked agent, say) and is not restarted. @default true */
  keepCleanExit?: boolean;
}

/**
 * Runs a child process and restarts it with back-off when it crashes (non-zero exit or a signal),
 * as docker-compose's `restart: unless-stopped` and Kubernetes do. `stop()` ends supervision.
 */
export class Supervised {
  private child?: ChildProcess;
  private attempt = 0;
  private stopped = false;
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: SupervisedOptions) {
    this.start();
  }

  /** The current child, if one runs. */
  get process(): ChildProcess | undefined {
    return this.child;
  }

  private start(): void {
    const { name, command, args, log } = this.options;
    const startedAt = Date.now();
    const child = spawn(command, args, this.options.spawn);
    this.child = child;
    log(`${name} started (pid ${child.pid})`);
    this.options.onStart?.(child);
    child.on('exit', (code, signal) => {
      if (this.stopped) return;
      if (code === 0 && this.options.keepCleanExit !== false) {
        log(`${name} exited (0); not restarting`);
        return;
      }
      this.attempt = Date.now() - startedAt >= STABLE_AFTER_MS ? 1 : this.attempt + 1;
      const delay = restartDelayMs(this.attempt);
      log(`${name} exited (${signal ?? code}); restarting in ${delay / 1000} s (restart ${this.attempt} in a row)`);
      this.timer = setTimeout(() => this.start(), delay);
    });
  }

  /** Stops supervising and sends `signal` to the child. */
  stop(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** True while the current child has not exited. */
  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }
}
