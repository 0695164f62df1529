import { z } from 'zod';
import { text } from './text';

/** Who caused an event: `user:<uuid>`, `apikey:<id>`, `agent:<nodeId>`, `service:<name>` or `system`. */
export const actorSchema = text().regex(/^(system|(user|apikey|agent|service|integration):[A-Za-z0-9_.-]+)$/);

/**
 * A CloudEvents 1.0 document (DESIGN.md §4): the payload of every message on `evt.>`.
 * `aggregateversion` is the aggregate's version after this event (1 for the first event).
 */
export interface CloudEvent<T = unknown> {
  specversion: '1.0';
  id: string;
  /** `encedeus/<service>` */
  source: string;
  /** `<aggregate>.<past_tense>`, e.g. `server.started` */
  type: string;
  /** `<aggregate>/<id>` */
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: T;
  actor: string;
  correlationid?: string;
  aggregateversion: number;
}

export const cloudEventSchema = z.object({
  specversion: z.literal('1.0'),
  id: text().min(1),
  source: text().regex(/^encedeus\/[a-z0-9-]+$/),
  type: text().regex(/^[a-z]+\.[a-z_]+$/),
  subject: text().regex(/^[a-z]+\/[A-Za-z0-9_-]+$/),
  time: text(),
  datacontenttype: z.literal('application/json'),
  data: z.unknown(),
  actor: actorSchema,
  correlationid: text().optional(),
  aggregateversion: z.number().int().positive(),
});

/** An event as read back from the stream, with its stream sequence (the feed's cursor). */
export interface RecordedEvent<T = unknown> {
  sequence: number;
  event: CloudEvent<T>;
}

/** Headers carried beside the JSON body on every `evt.>` message. */
export const EVENT_HEADERS = {
  msgId: 'Nats-Msg-Id',
  expectedLastSubjectSequence: 'Nats-Expected-Last-Subject-Sequence',
  type: 'ce-type',
  source: 'ce-source',
  actor: 'ce-actor',
  correlationId: 'ce-correlationid',
} as const;
