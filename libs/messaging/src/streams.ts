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

/** Creates the streams that do not exist; leaves existing ones alone. */
export async function ensureStreams(jsm: JetStreamManager, names?: string[]): Promise<void> {
  for (const config of STREAM_CONFIGS) {
    if (names && !names.includes(config.name!)) continue;
    try {
      await jsm.streams.info(config.name!);
    } catch {
      try {
        await jsm.streams.add(config);
      } catch (error) {
        // Another service may have created it between our info and add.
        if (!/already in use|exists/i.test(String((error as Error).message))) throw error;
      }
    }
  }
}
