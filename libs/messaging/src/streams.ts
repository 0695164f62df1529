import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from 'nats';
import { STREAMS } from '@encedeus/contracts';

const SECOND_NS = 1_000_000_000;

/** The streams of DESIGN.md §3, created or updated idempotently by whichever service boots first. */
export const STREAM_CONFIGS: Partial<StreamConfig>[] = [
  {
    name: STREAMS.events,
    subjects: ['evt.>'],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    // Publish de-duplication window for Nats-Msg-Id (idempotency keys).
    duplicate_window: 5 * 60 * SECOND_NS,
    max_msgs: -1,
    max_age: 0,
    allow_direct: true,
  },
  {
    name: STREAMS.agentReports,
    subjects: ['agent.*.report.>'],
    storage: StorageType.File,
    max_age: 7 * 24 * 3600 * SECOND_NS,
    duplicate_window: 60 * SECOND_NS,
  },
  {
    name: STREAMS.telemetry,
    subjects: ['tel.>'],
    storage: StorageType.File,
    max_age: 24 * 3600 * SECOND_NS,
    max_msgs_per_subject: 20_000,
    discard: DiscardPolicy.Old,
    allow_direct: true,
  },
  {
    name: STREAMS.console,
    subjects: ['console.*.out'],
    storage: StorageType.File,
    // The scrollback: the last 1,000 lines of every server.
    max_msgs_per_subject: 1000,
    max_age: 7 * 24 * 3600 * SECOND_NS,
    discard: DiscardPolicy.Old,
    allow_direct: true,
  },
];

/** KV bucket holding aggregate snapshots (`<aggregate>.<id>` → state at a sequence). */
export const SNAPSHOT_BUCKET = 'snapshots';

/** KV bucket of leases (`<service>.<name>` → holder; see kernel/lease.ts): one entry per key, kept 60 s after its last write. */
export const LEASE_BUCKET = 'leases';
/** How long the lease bucket keeps a value: a dead holder's key disappears after this. */
export const LEASE_BUCKET_MAX_AGE_MS = 60_000;

/** The most replicas JetStream allows a stream. */
const MAX_REPLICAS = 5;

/**
 * How many copies of each stream and KV bucket a new one gets: env `NATS_STREAM_REPLICAS`, 1 to 5,
 * and at most the number of JetStream servers in the cluster (3 for R3). @default 1 (one server)
 */
export function streamReplicas(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.NATS_STREAM_REPLICAS?.trim();
  if (!raw) return 1;
  const replicas = Number(raw);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) {
    throw new Error(`messaging: NATS_STREAM_REPLICAS must be a whole number from 1 to ${MAX_REPLICAS}, got "${raw}"`);
  }
  return replicas;
}

export interface EnsureStreamsOptions {
  /** Replicas of the streams this call creates. @default streamReplicas() */
  replicas?: number;
}

/**
 * Creates the streams that do not exist, with `replicas` copies; leaves existing ones alone (their
 * replica count included: services may not update streams, an operator does with `nats stream edit`).
 */
export async function ensureStreams(jsm: JetStreamManager, names?: string[], options: EnsureStreamsOptions = {}): Promise<void> {
  const replicas = options.replicas ?? streamReplicas();
  for (const config of STREAM_CONFIGS) {
    if (names && !names.includes(config.name!)) continue;
    try {
      await jsm.streams.info(config.name!);
    } catch {
      try {
        await jsm.streams.add({ ...config, num_replicas: replicas });
      } catch (error) {
        // Another service may have created it between our info and add.
        if (!/already in use|exists/i.test(String((error as Error).message))) throw error;
      }
    }
  }
}
