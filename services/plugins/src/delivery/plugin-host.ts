import { Logger } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { STREAMS, Subjects, type CloudEvent } from '@encedeus/contracts';
import { CommandClient, CommandHandler, ConsumeLoop, EventStore, KeyedMutex, Lease, Projector } from '@encedeus/messaging';
import { pluginDecider } from '../domain/plugin.decider';
import { SCHEMA } from '../projections/plugins.projection';
import { purgePluginKv } from './capabilities';
import { deletePluginConsumer, PluginRunner, type DeliveryOptions } from './plugin-runner';

export interface PluginHostOptions extends DeliveryOptions {
  /** The `plugin-runners` lease: one replica runs every plugin. @default { ttlMs: 5000 } */
  lease?: { ttlMs?: number; renewMs?: number };
  /** Timeout of ctx.http calls. @default 5000 */
  httpTimeoutMs?: number;
}

/**
 * Runs the enabled plugins of the fleet: one replica holds the `plugin-runners` lease and runs a
 * PluginRunner per enabled plugin, so each plugin's events are handled one at a time in order.
 * It follows `evt.plugin.>` (an ordered consumer) and reconciles a plugin whenever one of its
 * events arrives: its aggregate decides whether it runs (enabled), restarts (config changed) or
 * stops (disabled, suspended, uninstalled — uninstall also deletes its consumer and KV keys).
 * A replica that takes the lease over reconciles every installed plugin.
 */
export class PluginHost {
  private readonly logger = new Logger('PluginHost');
  private readonly runners = new Map<string, { runner: PluginRunner; config: string }>();
  private readonly locks = new KeyedMutex();
  private readonly lease: Lease;
  private readonly follower: ConsumeLoop;
  private holding = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly db: DataSource,
    private readonly store: EventStore,
    private readonly kernel: CommandHandler,
    private readonly commands: CommandClient,
    private readonly projector: Projector,
    private readonly options: PluginHostOptions = {},
  ) {
    this.lease = new Lease(nc, {
      service: 'plugins',
      name: 'plugin-runners',
      ttlMs: options.lease?.ttlMs ?? 5000,
      renewMs: options.lease?.renewMs,
      onAcquired: () => void this.acquired(),
      onLost: (reason) => void this.lost(reason),
      onError: (error) => this.logger.warn(`lease: ${error.message}`),
    });
    this.follower = ConsumeLoop.ordered(nc, {
      name: 'PluginHost',
      stream: STREAMS.events,
      filterSubject: Subjects.eventsOf('plugin'),
      from: 'new',
      handle: (m) => {
        if (!this.holding) return;
        const event = JSON.parse(new TextDecoder().decode(m.data)) as CloudEvent;
        const id = event.subject.split('/')[1];
        if (event.type.startsWith('plugin.repository_') || event.type === 'plugin.rated') return;
        // Not awaited: a slow stop must not hold the follower (reconcile is serialised per plugin).
        void this.reconcile(id);
      },
    });
  }

  async start(): Promise<void> {
    await this.follower.start();
    await this.lease.start();
  }

  async stop(): Promise<void> {
    await this.lease.stop();
    await this.follower.stop();
    await this.stopAll();
  }

  /** Runners this replica runs now (plugin id → running). */
  running(): string[] {
    return [...this.runners.keys()];
  }

  private async acquired(): Promise<void> {
    this.holding = true;
    this.logger.log('holding plugin-runners: starting enabled plugins');
    try {
      await this.projector.waitFor(await this.store.lastSequence(), 30_000).catch(() => undefined);
      const rows = (await this.db.query(`select id from ${SCHEMA}.installed where state = 'enabled'`)) as { id: string }[];
      await Promise.all(rows.map((r) => this.reconcile(r.id)));
    } catch (error) {
      this.logger.error(`could not start the plugins: ${(error as Error).message}`);
    }
  }

  private async lost(reason: string): Promise<void> {
    this.holding = false;
    this.logger.warn(`lost plugin-runners (${reason}): stopping every plugin`);
    await this.stopAll();
  }

  private async stopAll(): Promise<void> {
    const all = [...this.runners.entries()];
    this.runners.clear();
    await Promise.all(all.map(([, r]) => r.runner.stop().catch(() => undefined)));
  }

  /** Brings one plugin's runner in line with its aggregate. */
  reconcile(id: string): Promise<void> {
    return this.locks.run(id, async () => {
      const { state, revision } = await this.store.load('plugin', id, pluginDecider);
      const current = this.runners.get(id);
      const shouldRun = this.holding && state.installed && !state.uninstalled && state.state === 'enabled';
      const config = JSON.stringify(state.config);
      if (current && (!shouldRun || current.config !== config)) {
        this.runners.delete(id);
        await current.runner.stop();
      }
      if (state.uninstalled) {
        await deletePluginConsumer(this.nc, id);
        await purgePluginKv(this.nc, id).catch((error: Error) => this.logger.warn(`kv of ${id} not purged: ${error.message}`));
        return;
      }
      if (!shouldRun || this.runners.get(id)) return;
      // The read model knows where the plugin was installed (its durable starts after that).
      await this.projector.waitFor(revision.sequence, 10_000);
      const [row] = (await this.db.query(`select installed_seq from ${SCHEMA}.installed where id = $1`, [id])) as { installed_seq: string }[];
      if (!row) throw new Error(`plugins: ${id} is not in the read model`);
      const runner = new PluginRunner(
        { id, name: state.name, events: state.events, permissions: state.permissions, config: state.config, code: state.code, installedSequence: Number(row.installed_seq) },
        this.nc,
        this.db,
        { commands: this.commands, httpTimeoutMs: this.options.httpTimeoutMs },
        this.options,
        (reason, failures) => this.suspend(id, reason, failures),
      );
      this.runners.set(id, { runner, config });
      await runner.start();
    });
  }

  private async suspend(id: string, reason: string, failures: number): Promise<void> {
    await this.kernel.handle('plugin', id, pluginDecider, { type: 'suspend', reason, failures }, { actor: 'service:plugins' });
  }
}
