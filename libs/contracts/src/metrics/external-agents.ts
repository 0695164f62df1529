import { z } from 'zod';
import type { ErrorBody } from '../errors';
import { defineEvent } from '../events/registry';
import { jsonValue, text } from '../text';

/*
 * External agents (seed 002, issue 12): programs outside the fleet that report to the metrics
 * service over REST (`POST /agents/ping|data|bye`, JSON or MessagePack). They are not the node
 * agents of the fleet: their aggregate is `external_agent` (`evt.external_agent.<id>`); their event
 * types keep the names the issue gives them, `agent.became_active`, `agent.went_inactive`,
 * `agent.said_bye` (an event type's prefix allows no underscore).
 */

/** An external agent's id: its own name for itself, a NATS subject token and KV key (letters, digits, `_`, `-`). */
export const externalAgentIdSchema = text()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, { message: 'must be 1-64 letters, digits, _ or -' });

/** Longest per-agent timeout an agent may ask for. */
export const MAX_AGENT_TIMEOUT_S = 24 * 3600;

/** `POST /agents/ping {id, timeout_s?}`: the agent is alive; `timeout_s` sets its own timeout (else METRICS_AGENT_TIMEOUT_S). */
export const agentPingSchema = z.object({ id: externalAgentIdSchema, timeout_s: z.number().int().min(1).max(MAX_AGENT_TIMEOUT_S).optional() });
/** `POST /agents/data {id, type, data}`: one data document of a type (seed 002: `ethereum_metrics`). */
export const agentDataSchema = z.object({
  id: externalAgentIdSchema,
  type: text().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, { message: 'must be 1-64 letters, digits, _, . or -' }),
  data: z.record(text().max(200), jsonValue()),
});
/** `POST /agents/bye {id}`: the agent leaves; it is inactive at once. */
export const agentByeSchema = z.object({ id: externalAgentIdSchema });
/** Data documents of a batch: at most this many. */
export const AGENT_DATA_BATCH_MAX = 1000;
/**
 * `cmd.metrics.agent_data_batch {items}`: data documents of many `POST /agents/data` requests, as
 * the gateway gathered them (each stamped with the time it arrived, epoch ms); each is stored or
 * refused on its own (AgentDataBatchReply).
 */
export const agentDataBatchSchema = z.object({
  items: z.array(agentDataSchema.extend({ t: z.number().int().min(0) })).min(1).max(AGENT_DATA_BATCH_MAX),
});
export type AgentDataBatch = z.infer<typeof agentDataBatchSchema>;
/**
 * The answer of `cmd.metrics.agent_data_batch`: how many documents were stored, and each one the
 * store refused, by its index in `items`, with the error its request answers (one client's
 * document never fails the others').
 */
export interface AgentDataBatchReply {
  result: 'success';
  stored: number;
  refused: (ErrorBody & { index: number })[];
}
export type AgentPing = z.infer<typeof agentPingSchema>;
export type AgentData = z.infer<typeof agentDataSchema>;
export type AgentBye = z.infer<typeof agentByeSchema>;

/** `GET /agents/:id/data?type&from&to` (epoch ms or ISO; default the last hour). */
export const agentDataQuerySchema = z.object({
  type: text().max(64).optional(),
  from: z.union([z.number(), text().max(40)]).optional(),
  to: z.union([z.number(), text().max(40)]).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
});

/** `GET /agents/:id/series?type&field&from&to&step`: one numeric field of a data type, as `GET /metrics` answers ranges. */
export const agentSeriesQuerySchema = z.object({
  type: text().min(1).max(64),
  field: text().min(1).max(200),
  from: z.union([z.number(), text().max(40)]).optional(),
  to: z.union([z.number(), text().max(40)]).optional(),
  step: z.union([z.number(), text().max(20)]).optional(),
});

/** The answer of every seed 002 endpoint. */
export const AGENT_SUCCESS = { result: 'success' } as const;

/** An external agent as `GET /agents` lists it. */
export interface ExternalAgentView {
  id: string;
  state: 'active' | 'inactive';
  /** Last ping, ISO 8601. */
  last_seen: string;
  /** Its own timeout, or null for the service's (METRICS_AGENT_TIMEOUT_S). */
  timeout_s: number | null;
  /** Data types it sent. */
  types: string[];
}

/** One stored data document. */
export interface ExternalAgentDatum {
  t: string;
  type: string;
  data: Record<string, unknown>;
}

export const AgentBecameActive = defineEvent(
  'agent.became_active',
  z.object({ agent_id: externalAgentIdSchema, at: text(), timeout_s: z.number().int().nullable() }),
  'An external agent (seed 002) pinged while not active',
);
export const AgentWentInactive = defineEvent(
  'agent.went_inactive',
  z.object({ agent_id: externalAgentIdSchema, at: text(), last_seen: text() }),
  'An external agent sent no ping within its timeout',
);
export const AgentSaidBye = defineEvent('agent.said_bye', z.object({ agent_id: externalAgentIdSchema, at: text() }), 'An external agent said bye; it is inactive at once');

/** Verbs of the metrics service for external agents (`cmd.metrics.<verb>`). */
export const ExternalAgentVerbs = {
  ping: 'agent_ping',
  data: 'agent_data',
  dataBatch: 'agent_data_batch',
  bye: 'agent_bye',
  list: 'list_agents',
  queryData: 'agent_data_query',
  series: 'agent_series',
} as const;
