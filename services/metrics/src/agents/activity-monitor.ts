import { Logger } from '@nestjs/common';
import { JSONCodec, type KV, type KvEntry, type NatsConnection } from 'nats';
import type { CommandMeta } from '@encedeus/messaging';
import { Lease, streamReplicas, type CommandHandler } from '@encedeus/messaging';
import type { ExternalAgentView } from '@encedeus/contracts';
import { externalAgentDecider } from '../domain/external-agent.decider';

/** KV bucket of external agents' activity: key = agent id. */
export const AGENT_MONITOR_BUCKET = 'metrics_agents';

/** Types an agent's record lists at most: the first this many it sent (the list is one KV value, rewritten on every new type). */
export const MAX_AGENT_TYPES = 64;

/** What the bucket holds per agent. */
interface AgentRecord {
  state: 'active' | 'inactive';
  /** Epoch ms of the last ping. */
  last_seen: number;
  timeout_s: number | null;
  types: string[];
}

export interface ActivityMonitorOptions {
  /** Timeout of an agent that set none (METRICS_AGENT_TIMEOUT_S). @default 20 */
  defaultTimeoutS?: number;
  /** How often the lease holder looks for agents past their timeout. @default 500 */
  sweepMs?: number;
}

const codec = JSONCodec<AgentRecord>();
const JS_WRONG_LAST_SEQUENCE = 10071;
const MONITOR: CommandMeta = { actor: 'service:metrics' };

function isConflict(error: unknown): boolean {
  const e = error as { api_error?: { err_code?: number }; code?: string; message?: string };
  return e?.api_error?.err_code === JS_WRONG_LAST_SEQUENCE || /wrong last sequence|key exists/i.test(String(e?.message));
}

/**
 * The activity monitor of seed 002, one per agent id, kept in the KV bucket `metrics_agents` (so it
 * survives restarts and is shared by replicas): a ping makes an agent active (`agent.became_active`
 * on the transition), no ping within its timeout makes it inactive (`agent.went_inactive`, found by
 * the holder of the `metrics.agent-monitor` lease), a bye makes it inactive at once
 * (`agent.said_bye`). Every record is written with the KV revision as compare-and-set; the events go
 * through the kernel, whose decider ignores a transition the aggregate already made.
 */
export class ActivityMonitor {
  private readonly logger = new Logger('ActivityMonitor');
  private kv?: KV;
  private readonly known = new Map<string, { record: AgentRecord; revision: number }>();
  private watching?: { stop(): void };
  private sweeper?: NodeJS.Timeout;
  private readonly lease: Lease;

  constructor(
    private readonly nc: NatsConnection,
    private readonly kernel: CommandHandler,
    private readonly options: ActivityMonitorOptions = {},
  ) {
    this.lease = new Lease(nc, { service: 'metrics', name: 'agent-monitor', onError: (error) => this.logger.warn(`lease: ${error.message}`) });
  }

  private get defaultTimeoutS(): number {
    return this.options.defaultTimeoutS ?? 20;
  }

  async start(): Promise<void> {
    this.kv = await this.nc.jetstream().views.kv(AGENT_MONITOR_BUCKET, { history: 1, replicas: streamReplicas() });
    // Every replica follows the bucket: lists answer from it, and the sweeper needs every agent.
    const iterator = await this.kv.watch({ initializedFn: () => undefined });
    this.watching = iterator;
    void (async () => {
      for await (const entry of iterator) this.remember(entry);
    })().catch((error) => this.logger.warn(`watch ended: ${(error as Error).message}`));
    await this.lease.start();
    this.sweeper = setInterval(() => void this.sweep(), this.options.sweepMs ?? 500);
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    this.watching?.stop();
    await this.lease.stop();
  }

  /** A ping: the agent is alive now; `timeoutS` replaces its own timeout when given. */
  async ping(agentId: string, timeoutS: number | undefined, meta: CommandMeta): Promise<void> {
    const now = Date.now();
    const before = await this.write(agentId, (r) => ({ state: 'active', last_seen: now, timeout_s: timeoutS ?? r?.timeout_s ?? null, types: r?.types ?? [] }));
    if (before?.state !== 'active') {
      await this.kernel.handle('external_agent', agentId, externalAgentDecider, { type: 'ping', agentId, at: new Date(now).toISOString(), timeoutS: timeoutS ?? before?.timeout_s ?? null }, meta, { conflictRetries: 3 });
    }
  }

  /** A bye: inactive at once. */
  async bye(agentId: string, meta: CommandMeta): Promise<void> {
    const now = Date.now();
    await this.write(agentId, (r) => ({ state: 'inactive', last_seen: r?.last_seen ?? now, timeout_s: r?.timeout_s ?? null, types: r?.types ?? [] }));
    await this.kernel.handle('external_agent', agentId, externalAgentDecider, { type: 'bye', agentId, at: new Date(now).toISOString() }, meta, { conflictRetries: 3 });
  }

  /**
   * Records that the agent sent data of these types (listed in `types`, sorted): one
   * compare-and-set for all of them. Once an agent has MAX_AGENT_TYPES types, further ones are not
   * listed (its data is stored all the same). Types already listed cost no write.
   */
  async sawTypes(agentId: string, types: readonly string[]): Promise<void> {
    const known = this.known.get(agentId)?.record.types;
    if (known && (known.length >= MAX_AGENT_TYPES || types.every((t) => known.includes(t)))) return;
    await this.write(agentId, (r) => {
      const listed = r?.types ?? [];
      const added = [...new Set(types)].filter((t) => !listed.includes(t)).sort().slice(0, Math.max(0, MAX_AGENT_TYPES - listed.length));
      if (added.length === 0) return null;
      return { state: r?.state ?? 'inactive', last_seen: r?.last_seen ?? Date.now(), timeout_s: r?.timeout_s ?? null, types: [...listed, ...added].sort() };
    });
  }

  /** Every agent this replica knows of (from the bucket), by id. */
  list(): ExternalAgentView[] {
    return [...this.known.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, { record }]) => ({ id, state: record.state, last_seen: new Date(record.last_seen).toISOString(), timeout_s: record.timeout_s, types: record.types }));
  }

  /** Whether `agentId` has a record. */
  knows(agentId: string): boolean {
    return this.known.has(agentId);
  }

  /**
   * Reads, changes and writes one record with compare-and-set (a lost race reads again); resolves
   * what it held before. `change` returning null writes nothing.
   */
  private async write(agentId: string, change: (record: AgentRecord | undefined) => AgentRecord | null): Promise<AgentRecord | undefined> {
    for (let attempt = 0; ; attempt++) {
      const entry = await this.kv!.get(agentId);
      const before = entry && entry.operation === 'PUT' && entry.length > 0 ? codec.decode(entry.value) : undefined;
      const next = change(before);
      if (!next) return before;
      try {
        const revision = entry ? await this.kv!.update(agentId, codec.encode(next), entry.revision) : await this.kv!.create(agentId, codec.encode(next));
        this.known.set(agentId, { record: next, revision });
        return before;
      } catch (error) {
        if (!isConflict(error) || attempt >= 20) throw error;
      }
    }
  }

  private remember(entry: KvEntry): void {
    if (entry.operation !== 'PUT' || entry.length === 0) {
      this.known.delete(entry.key);
      return;
    }
    const current = this.known.get(entry.key);
    if (current && current.revision > entry.revision) return;
    try {
      this.known.set(entry.key, { record: codec.decode(entry.value), revision: entry.revision });
    } catch {
      // not ours: ignored
    }
  }

  /** The lease holder marks every active agent past its timeout inactive. */
  private async sweep(): Promise<void> {
    if (!this.lease.isHeld()) return;
    const now = Date.now();
    for (const [agentId, { record }] of this.known) {
      if (record.state !== 'active' || record.last_seen + (record.timeout_s ?? this.defaultTimeoutS) * 1000 > now) continue;
      try {
        let timedOut = false;
        const before = await this.write(agentId, (r) => {
          timedOut = !!r && r.state === 'active' && r.last_seen + (r.timeout_s ?? this.defaultTimeoutS) * 1000 <= Date.now();
          return timedOut ? { ...r!, state: 'inactive' } : null;
        });
        // A ping that came in meanwhile wins.
        if (!timedOut || !before) continue;
        await this.kernel.handle('external_agent', agentId, externalAgentDecider, { type: 'timeout', agentId, at: new Date().toISOString(), lastSeen: new Date(before.last_seen).toISOString() }, MONITOR, { conflictRetries: 3 });
      } catch (error) {
        this.logger.warn(`timeout of agent ${agentId} failed: ${(error as Error).message}`);
      }
    }
  }
}
