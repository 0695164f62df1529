import { z } from 'zod';
import { limitsSchema, type Limits } from './templates';

export const SERVER_STATES = ['installing', 'install_failed', 'offline', 'starting', 'running', 'stopping', 'crashed'] as const;
export type ServerState = (typeof SERVER_STATES)[number];

export const POWER_ACTIONS = ['start', 'stop', 'restart', 'kill'] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];

const variablesSchema = z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.union([z.string(), z.number(), z.boolean()]).transform(String));
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
  name: z.string().min(1).max(100),
  template_id: z.uuid(),
  /** Else the server is placed on the online node with most free memory. */
  node_id: z.uuid().optional(),
  /** Defaults to the caller. */
  owner_id: z.string().min(1).max(100).optional(),
  /** Defaults to the template's limits. */
  limits: limitsSchema.partial().optional(),
  variables: variablesSchema.default({}),
  ports: z.array(portSchema).max(32).default([]),
});
export type CreateServer = z.infer<typeof createServerSchema>;

/** `PATCH /servers/:id`: applied on the next start. */
export const updateServerSchema = z.object({
  name: z.string().min(1).max(100).optional(),
  limits: limitsSchema.partial().optional(),
  variables: variablesSchema.optional(),
  ports: z.array(portSchema).max(32).optional(),
});
export type UpdateServer = z.infer<typeof updateServerSchema>;

/** `POST /servers/:id/power` */
export const powerSchema = z.object({ action: z.enum(POWER_ACTIONS) });
export type Power = z.infer<typeof powerSchema>;

/** `POST /servers/:id/command` */
export const serverCommandSchema = z.object({ command: z.string().min(1).max(4096) });

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
  createdAt: string;
  version: number;
}
