import type { NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import type { CommandClient } from '@encedeus/messaging';
import { PluginSandbox, SandboxError, type SandboxLimits } from '../sandbox/plugin-sandbox';
import { SCHEMA } from '../projections/plugins.projection';
import { pluginCapabilities } from './capabilities';

export type LifecycleHook = 'onInstall' | 'onEnable' | 'onDisable';

/** What a lifecycle hook runs: the installation as its aggregate (or the install command) says. */
export interface HookedPlugin {
  id: string;
  name: string;
  version?: string;
  permissions: readonly string[];
  config: unknown;
  code: string;
}

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  message: string;
}

/** A hook threw, ran out of its budget, or the plugin did not load; `logs` are the lines it wrote. */
export class HookError extends Error {
  constructor(
    readonly hook: LifecycleHook,
    readonly reason: string,
    readonly logs: LogLine[],
  ) {
    super(`${hook} failed: ${reason}`);
    this.name = 'HookError';
  }
}

/** Time a lifecycle hook (and the load before it) may take: they run while a REST request waits. */
const HOOK_WALL_MS = 5000;

/**
 * Runs a plugin's lifecycle hooks (`onInstall`, `onEnable`, `onDisable`) in a sandbox of their own,
 * on the replica that handles the command, with the plugin's own capabilities (as `plugin:<id>`)
 * and the same limits as its events (CPU budget, memory), the wall clock capped at HOOK_WALL_MS.
 * Each hook is called as `hook({ id, name, version, hook }, ctx)`. A plugin without the hook
 * passes at once.
 */
export class PluginHooks {
  constructor(
    private readonly nc: NatsConnection,
    private readonly commands: CommandClient,
    private readonly db: DataSource,
    private readonly options: { sandbox?: SandboxLimits; httpTimeoutMs?: number } = {},
  ) {}

  /** Runs `hooks` in order; throws HookError at the first that fails. Resolves with the lines they logged. */
  async run(plugin: HookedPlugin, hooks: readonly LifecycleHook[]): Promise<LogLine[]> {
    const logs: LogLine[] = [];
    if (hooks.length === 0) return logs;
    const limits = this.options.sandbox ?? {};
    const capabilities = pluginCapabilities(plugin.id, plugin.permissions, { nc: this.nc, commands: this.commands, httpTimeoutMs: this.options.httpTimeoutMs });
    const sandbox = new PluginSandbox({
      code: plugin.code,
      config: plugin.config,
      permissions: plugin.permissions,
      limits: { ...limits, wallMs: Math.min(limits.wallMs ?? HOOK_WALL_MS, HOOK_WALL_MS), loadMs: Math.min(limits.loadMs ?? HOOK_WALL_MS, HOOK_WALL_MS) },
      capabilities,
      log: (level, message) => {
        if (logs.length < 200) logs.push({ level, message });
      },
    });
    let current: LifecycleHook = hooks[0];
    try {
      await sandbox.start();
      for (const hook of hooks) {
        current = hook;
        const info = { id: plugin.id, name: plugin.name, version: plugin.version ?? null, hook };
        // Another plugin's runaway ended the shared thread mid-hook: not this plugin's failure, run it again.
        await sandbox.run(hook, info).catch((error: unknown) => (error instanceof SandboxError && error.collateral ? sandbox.run(hook, info) : Promise.reject(error)));
      }
      return logs;
    } catch (error) {
      throw new HookError(current, (error as Error).message.slice(0, 1000), logs);
    } finally {
      await sandbox.stop().catch(() => undefined);
      capabilities.close();
    }
  }

  /** Writes lines to the plugin's logs (GET /plugins/:id/logs). */
  async persist(pluginId: string, lines: readonly LogLine[]): Promise<void> {
    for (const line of lines) {
      await this.db.query(`insert into ${SCHEMA}.logs (plugin_id, level, message) values ($1, $2, $3)`, [pluginId, line.level, line.message.replace(/\0/g, '').slice(0, 4000)]);
    }
  }
}
