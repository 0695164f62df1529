import { Logger } from '@nestjs/common';
import { AckPolicy, DeliverPolicy, type JsMsg, type NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { pluginDurableName, pluginFilterSubject, pluginWantsEvent, STREAMS, type CloudEvent } from '@encedeus/contracts';
import { ConsumeLoop, exponentialBackoff } from '@encedeus/messaging';
import { PluginSandbox, SandboxError, type SandboxLimits } from '../sandbox/plugin-sandbox';
import { SCHEMA } from '../projections/plugins.projection';
import { pluginCapabilities, type CapabilityDeps, type PluginCapabilities } from './capabilities';

/** How a runner treats failures. */
export interface DeliveryOptions {
  /** Attempts of one event before it is parked as a dead letter. @default 3 */
  attempts?: number;
  /** Events parked in a row before the plugin is suspended. @default 3 */
  suspendAfter?: number;
  /** Pause before the next attempt, times the attempts so far (capped at 2 s). @default 100 */
  retryDelayMs?: number;
  /** Sandbox limits of every plugin. */
  sandbox?: SandboxLimits;
  /** Log lines kept per plugin. @default 500 */
  logLines?: number;
}

/** What a runner runs: one enabled plugin as its aggregate says. */
export interface RunnablePlugin {
  id: string;
  name: string;
  events: string[];
  permissions: string[];
  config: unknown;
  code: string;
  /** Stream sequence of its plugin.installed: a new durable starts right after it. */
  installedSequence: number;
}

/**
 * Opens the plugin's durable consumer on EVENTS, creating it if missing: filtered to its events,
 * explicit acks, one message in flight (in order), starting right after its installation. An
 * existing one keeps its position (how an enable resumes where a disable stopped). One that still
 * has a message out (pulled by a runner that stopped before handling it: consume() pulls the next
 * one as soon as the previous is acked) is recreated at its ack floor, so that message comes now
 * rather than after the ack wait. Only the runner of the plugin (one per fleet, under the lease)
 * calls this, so nothing else reads the consumer meanwhile.
 */
export async function ensurePluginConsumer(nc: NatsConnection, plugin: Pick<RunnablePlugin, 'id' | 'events' | 'installedSequence'>): Promise<void> {
  const jsm = await nc.jetstreamManager();
  const name = pluginDurableName(plugin.id);
  const filter = pluginFilterSubject(plugin.events);
  const info = await jsm.consumers.info(STREAMS.events, name).catch(() => null);
  if (info && info.num_ack_pending === 0 && info.config.filter_subject === filter) return;
  if (info) await jsm.consumers.delete(STREAMS.events, name);
  await jsm.consumers.add(STREAMS.events, {
    durable_name: name,
    filter_subject: filter,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Math.max(plugin.installedSequence, info?.ack_floor.stream_seq ?? 0) + 1,
    max_ack_pending: 1,
    ack_wait: ACK_WAIT_NS,
    max_deliver: -1,
  });
}

/** A delivery not acknowledged this long is sent again (the runner marks progress while retrying). */
const ACK_WAIT_NS = 60_000_000_000;

/** Deletes a plugin's durable (uninstall). Missing is not an error. */
export async function deletePluginConsumer(nc: NatsConnection, pluginId: string): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.delete(STREAMS.events, pluginDurableName(pluginId)).catch(() => undefined);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STATUS_FLUSH_MS = 500;

/**
 * Delivers events to one enabled plugin: its durable consumer read by the kernel's consume loop,
 * one event at a time (at-least-once, in stream order, so in order per aggregate). An event the
 * plugin fails is tried `attempts` times in a fresh sandbox, then parked in the plugin's dead
 * letters and acknowledged so the next one comes; `suspendAfter` parked in a row call `suspend`
 * (the host appends plugin.suspended and stops the runner). The service's own thread never runs
 * plugin code: a loop or an allocation spree costs the plugin its event, nothing else.
 */
export class PluginRunner {
  private readonly logger: Logger;
  private readonly loop: ConsumeLoop;
  private readonly sandbox: PluginSandbox;
  private readonly capabilities: PluginCapabilities;
  private halted = false;
  private failuresInRow = 0;
  private logsSinceTrim = 0;
  /** Deliveries not yet written to runner_status (written at most every STATUS_FLUSH_MS). */
  private unflushed = 0;
  private lastDelivered = 0;
  private flushTimer?: NodeJS.Timeout;
  private readonly attempts: number;
  private readonly suspendAfter: number;

  constructor(
    readonly plugin: RunnablePlugin,
    private readonly nc: NatsConnection,
    private readonly db: DataSource,
    deps: Omit<CapabilityDeps, 'nc'>,
    private readonly options: DeliveryOptions,
    private readonly suspend: (reason: string, failures: number) => Promise<void>,
  ) {
    this.logger = new Logger(`plugin:${plugin.name}`);
    this.attempts = options.attempts ?? 3;
    this.suspendAfter = options.suspendAfter ?? 3;
    this.capabilities = pluginCapabilities(plugin.id, plugin.permissions, { ...deps, nc });
    this.sandbox = new PluginSandbox({
      code: plugin.code,
      config: plugin.config,
      permissions: plugin.permissions,
      limits: options.sandbox,
      capabilities: this.capabilities,
      log: (level, message) => void this.log(level, message),
    });
    const durable = pluginDurableName(plugin.id);
    this.loop = new ConsumeLoop({
      name: `plugin:${plugin.name}`,
      closed: () => nc.isClosed(),
      open: async () => {
        await ensurePluginConsumer(nc, plugin);
        return nc.jetstream().consumers.get(STREAMS.events, durable);
      },
      handle: (m) => this.handle(m),
      consume: { max_messages: 1 },
      retryDelayMs: 500,
      onError: (error) => this.logger.warn(`consumer failed: ${error.message}`),
    });
  }

  async start(): Promise<void> {
    const [status] = (await this.db.query(`select consecutive_failures from ${SCHEMA}.runner_status where plugin_id = $1`, [this.plugin.id])) as { consecutive_failures: number }[];
    this.failuresInRow = status?.consecutive_failures ?? 0;
    // Load the sandbox before the first event; a plugin that does not load fails its events instead.
    await this.sandbox.start().catch((error: Error) => void this.log('error', error.message));
    if (this.halted) return;
    await this.loop.start();
  }

  async stop(): Promise<void> {
    this.halted = true;
    await this.loop.stop(15_000);
    await this.sandbox.stop();
    this.capabilities.close();
    await this.flush();
  }

  /** Counts a delivery; the status row is written at most every STATUS_FLUSH_MS (a row per event halved the throughput). */
  private delivered(sequence: number): void {
    this.unflushed++;
    this.lastDelivered = sequence;
    this.flushTimer ??= setTimeout(() => void this.flush(), STATUS_FLUSH_MS);
  }

  private async flush(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const n = this.unflushed;
    if (n === 0) return;
    this.unflushed = 0;
    await this.db
      .query(
        `insert into ${SCHEMA}.runner_status (plugin_id, consecutive_failures, delivered, last_sequence) values ($1, 0, $2, $3)
         on conflict (plugin_id) do update set delivered = ${SCHEMA}.runner_status.delivered + excluded.delivered,
           last_sequence = greatest(${SCHEMA}.runner_status.last_sequence, excluded.last_sequence)`,
        [this.plugin.id, n, this.lastDelivered],
      )
      .catch((error: Error) => this.logger.warn(`status not written: ${error.message}`));
  }

  private async handle(m: JsMsg): Promise<void> {
    // Suspended or stopping: leave the message unacknowledged; the next runner's open sends it again.
    if (this.halted) return;
    let event: CloudEvent;
    try {
      event = JSON.parse(new TextDecoder().decode(m.data)) as CloudEvent;
    } catch {
      m.ack();
      return;
    }
    if (!pluginWantsEvent(this.plugin.events, event.type)) {
      m.ack();
      return;
    }
    let lastError = '';
    let collateral = 0;
    for (let attempt = 1; attempt <= this.attempts && !this.halted; attempt++) {
      try {
        await this.sandbox.run('onEvent', event);
        if (this.failuresInRow > 0) {
          // The run of failures ends now, not at the next flush (a restart reads it).
          this.failuresInRow = 0;
          await this.db.query(`update ${SCHEMA}.runner_status set consecutive_failures = 0 where plugin_id = $1`, [this.plugin.id]);
        }
        this.delivered(m.seq);
        m.ack();
        return;
      } catch (error) {
        // Another plugin's runaway ended the shared thread: not this plugin's failure.
        if (error instanceof SandboxError && error.collateral && collateral++ < 5) {
          attempt--;
          continue;
        }
        lastError = (error as Error).message;
        await this.log('error', `${event.type} ${event.id} attempt ${attempt}/${this.attempts}: ${lastError}`);
        m.working();
        if (attempt < this.attempts) await sleep(Math.min(2000, exponentialBackoff(this.options.retryDelayMs ?? 100, 2000)(attempt)));
      }
    }
    if (this.halted) return;
    this.failuresInRow++;
    await this.db.query(
      `insert into ${SCHEMA}.dead_letters (plugin_id, sequence, event_id, event_type, error, attempts) values ($1,$2,$3,$4,$5,$6)
       on conflict (plugin_id, sequence) do update set error = excluded.error, attempts = ${SCHEMA}.dead_letters.attempts + excluded.attempts, parked_at = now()`,
      [this.plugin.id, m.seq, String(event.id), String(event.type), lastError.slice(0, 2000), this.attempts],
    );
    await this.db.query(
      `insert into ${SCHEMA}.runner_status (plugin_id, last_error, last_error_at, consecutive_failures, last_sequence) values ($1, $2, now(), $3, $4)
       on conflict (plugin_id) do update set last_error = excluded.last_error, last_error_at = now(), consecutive_failures = excluded.consecutive_failures, last_sequence = excluded.last_sequence`,
      [this.plugin.id, lastError.slice(0, 2000), this.failuresInRow, m.seq],
    );
    m.ack();
    if (this.failuresInRow >= this.suspendAfter) {
      this.halted = true;
      const reason = `${this.failuresInRow} events failed in a row; last: ${lastError}`.slice(0, 1000);
      this.logger.warn(`suspending: ${reason}`);
      await this.suspend(reason, this.failuresInRow).catch((error: Error) => this.logger.error(`could not suspend: ${error.message}`));
    }
  }

  private async log(level: 'info' | 'warn' | 'error', message: string): Promise<void> {
    try {
      await this.db.query(`insert into ${SCHEMA}.logs (plugin_id, level, message) values ($1, $2, $3)`, [this.plugin.id, level, message.replace(/\0/g, '').slice(0, 4000)]);
      if (++this.logsSinceTrim >= 100) {
        this.logsSinceTrim = 0;
        await this.db.query(
          `delete from ${SCHEMA}.logs where plugin_id = $1 and id < (select min(id) from (select id from ${SCHEMA}.logs where plugin_id = $1 order by id desc limit $2) kept)`,
          [this.plugin.id, this.options.logLines ?? 500],
        );
      }
    } catch (error) {
      this.logger.warn(`log line lost: ${(error as Error).message}`);
    }
  }
}
