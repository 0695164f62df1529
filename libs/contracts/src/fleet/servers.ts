import { z } from 'zod';
import { text } from '../text';
import { limitsSchema, startupSchema, type Limits } from './templates';
import type { ServerSubuser } from './access';

export const SERVER_STATES = ['installing', 'install_failed', 'offline', 'starting', 'running', 'stopping', 'crashed'] as const;
export type ServerState = (typeof SERVER_STATES)[number];

export const POWER_ACTIONS = ['start', 'stop', 'restart', 'kill'] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];

/** The smallest limits a server may have; 0 never means unlimited. */
export const SERVER_LIMIT_MINIMUMS: Readonly<Limits> = { memory_mb: 16, cpu_percent: 1, disk_mb: 16 };

/** A server's limits: the template's bounds with the minimums (0 is refused, not taken as unlimited). */
export const serverLimitsSchema = limitsSchema.extend({
  memory_mb: limitsSchema.shape.memory_mb.min(SERVER_LIMIT_MINIMUMS.memory_mb, `must be at least ${SERVER_LIMIT_MINIMUMS.memory_mb} MB (0 is not unlimited)`),
  cpu_percent: limitsSchema.shape.cpu_percent.min(SERVER_LIMIT_MINIMUMS.cpu_percent, `must be at least ${SERVER_LIMIT_MINIMUMS.cpu_percent} % (0 is not unlimited)`),
  disk_mb: limitsSchema.shape.disk_mb.min(SERVER_LIMIT_MINIMUMS.disk_mb, `must be at least ${SERVER_LIMIT_MINIMUMS.disk_mb} MB (0 is not unlimited)`),
});

/** Fields of merged limits (template defaults + the request) below the minimums, as `{path, message}` for a 422. */
export function limitViolations(limits: Limits): { path: string; message: string }[] {
  const result = serverLimitsSchema.safeParse(limits);
  return result.success ? [] : result.error.issues.map((i) => ({ path: ['limits', ...i.path].join('.'), message: i.message }));
}

const variablesSchema = z.record(text().regex(/^[A-Z_][A-Z0-9_]*$/), z.union([text(), z.number(), z.boolean()]).transform(String));
const portSchema = z.union([
  z.number().int().min(1).max(65535).transform((p) => ({ host: p, container: p, protocol: 'tcp' as const })),
  z.object({
    host: z.number().int().min(1).max(65535),
    container: z.number().int().min(1).max(65535).optional(),
    protocol: z.enum(['tcp', 'udp']).default('tcp'),
  }).transform((p) => ({ host: p.host, container: p.container ?? p.host, protocol: p.protocol })),
]);

/** `POST /servers` */
export const createServerSchema = z.object({
  name: text().min(1).max(100),
  template_id: z.uuid(),
  /** Else the server is placed on the online node with most free memory. */
  node_id: z.uuid().optional(),
  /** A user id; defaults to the caller (only `servers.manage` may name someone else). */
  owner_id: z.uuid().optional(),
  /** Defaults to the template's limits; at least SERVER_LIMIT_MINIMUMS. */
  limits: serverLimitsSchema.partial().optional(),
  variables: variablesSchema.default({}),
  ports: z.array(portSchema).max(32).default([]),
});
export type CreateServer = z.infer<typeof createServerSchema>;

/** `PATCH /servers/:id`: applied on the next start. */
export const updateServerSchema = z.object({
  name: text().min(1).max(100).optional(),
  limits: serverLimitsSchema.partial().optional(),
  variables: variablesSchema.optional(),
  ports: z.array(portSchema).max(32).optional(),
  /**
   * The server's own startup line instead of its template's (null: the template's again), checked and
   * rendered like the template's. Only `servers.manage`, or the owner when the template sets
   * `startup_editable` (contracts' `canControlServer(…, 'startup')`).
   */
  startup: startupSchema.nullable().optional(),
});
export type UpdateServer = z.infer<typeof updateServerSchema>;

/** `POST /servers/:id/power` */
export const powerSchema = z.object({ action: z.enum(POWER_ACTIONS) });
export type Power = z.infer<typeof powerSchema>;

/** `POST /servers/:id/command` */
export const serverCommandSchema = z.object({ command: text().min(1).max(4096) });

export interface Port {
  host: number;
  container: number;
  protocol: 'tcp' | 'udp';
}

/** Latest usage of one server (from the agent's sample). */
export interface ServerUsage {
  cpu_percent: number;
  memory_bytes: number;
  memory_limit_bytes: number;
  disk_bytes: number;
  uptime_ms: number;
  at: string;
}

/** A server as REST answers it. */
export interface ServerView {
  id: string;
  name: string;
  template_id: string;
  node_id: string;
  owner_id: string;
  state: ServerState;
  desired: 'running' | 'stopped';
  limits: Limits;
  variables: Record<string, string>;
  ports: Port[];
  usage: ServerUsage | null;
  last_exit: { code: number | null; signal: string | null; reason?: string; at: string } | null;
  /** The startup line the next start runs (the server's override, else its template's), placeholders unrendered. */
  startup: string;
  /** Whether the server's owner may change `startup` (the template's `startup_editable`); `servers.manage` always may. */
  startup_editable: boolean;
  /**
   * Who else may use the server and how (docs/subusers.md). The gateway shows the whole list to
   * whoever may manage sub-users (or sees every server), and only the caller's own grant to others.
   */
  subusers: ServerSubuser[];
  createdAt: string;
  version: number;
}
