import { z } from 'zod';
import { jsonValue, text } from '../text';
import { parseSizeMb } from './sizes';

const tagsSchema = z.array(text().min(1).max(64).regex(/^[A-Za-z0-9_.:-]+$/)).max(32);
const storageSchema = z
  .union([z.number().int().min(0), text().max(32)])
  .refine((v) => parseSizeMb(v) !== undefined, { message: 'must be a size like 10G, 512M or a number of MiB' });

/** `POST /nodes` (seed 001: `{name, memory_mb, cpu_shares, storage_size}`); cpu_percent or cpu_shares (1024 = one core). */
export const createNodeSchema = z
  .object({
    name: text().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/),
    memory_mb: z.number().int().min(1),
    cpu_percent: z.number().int().min(1).optional(),
    cpu_shares: z.number().int().min(1).optional(),
    storage_size: storageSchema,
    tags: tagsSchema.default([]),
    /** Seconds the enrollment token stays valid. @default 3600 */
    enrollment_ttl_s: z.number().int().min(10).max(7 * 24 * 3600).optional(),
  })
  .refine((v) => v.cpu_percent !== undefined || v.cpu_shares !== undefined, {
    message: 'cpu_percent or cpu_shares is required',
    path: ['cpu_percent'],
  });
export type CreateNode = z.infer<typeof createNodeSchema>;

/** `PATCH /nodes/:id` */
export const updateNodeSchema = z.object({
  name: text().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/).optional(),
  memory_mb: z.number().int().min(1).optional(),
  cpu_percent: z.number().int().min(1).optional(),
  storage_size: storageSchema.optional(),
  tags: tagsSchema.optional(),
  /** false lifts a drain. */
  draining: z.boolean().optional(),
});
export type UpdateNode = z.infer<typeof updateNodeSchema>;

/** What the agent reports about its machine on every boot. */
export const nodeSpecSchema = z.object({
  cpu: z.object({ model: text(), cores: z.number().int() }),
  memory_bytes: z.number(),
  disk_bytes: z.number(),
  os: text(),
  kernel: text(),
  hostname: text().optional(),
  agent_version: text(),
  drivers: z.array(text()),
  /** What each driver can enforce here (DriverCapabilities): free-form, but plain JSON with safe text at any depth. */
  capabilities: z.array(z.record(text(), jsonValue())).max(64).default([]),
  /** Job runtimes found on the machine (python3, node, bash). */
  runtimes: z.array(text()).default([]),
  /** The agent's SFTP server (issue 11): its port, and the host name users reach it by (AGENT_SFTP_PUBLIC_HOST, else the machine's host name); absent from agents before it. */
  sftp: z.object({ port: z.number().int().min(1).max(65535), host: text().max(255).optional() }).optional(),
});
export type NodeSpec = z.infer<typeof nodeSpecSchema>;

/** Latest usage sample of a node (seed 001's `{node_id, memory_usage, memory_limit, cpu_percent}` plus the rest). */
export interface NodeUsage {
  node_id: string;
  memory_usage: number;
  memory_limit: number;
  cpu_percent: number;
  load: number[];
  disk_used: number;
  disk_total: number;
  net_rx: number;
  net_tx: number;
  at: string;
}

/** Ranges of `GET /nodes/:id/metrics/history` (answered by the metrics service from raw samples and rollups). */
export const usageHistoryRanges = ['1h', '6h', '24h', '7d', '30d'] as const;
export const usageHistoryQuerySchema = z.object({ range: z.enum(usageHistoryRanges).default('1h') });
export type UsageHistoryRange = (typeof usageHistoryRanges)[number];

/** Node usage over a range, averaged per bucket (at most 240 points, oldest first). */
export interface UsageHistory {
  node_id: string;
  range: UsageHistoryRange;
  from: string;
  to: string;
  bucket_s: number;
  items: NodeUsage[];
}

/** A node as REST answers it. */
export interface NodeView {
  id: string;
  name: string;
  memory_mb: number;
  cpu_percent: number;
  storage_size: string | number;
  storage_mb: number;
  tags: string[];
  state: 'online' | 'offline';
  enrolled: boolean;
  draining: boolean;
  spec: NodeSpec | null;
  allocated: { memory_mb: number; cpu_percent: number; disk_mb: number; servers: number };
  lastSeenAt: string | null;
  createdAt: string;
  version: number;
}

/** The one-time enrollment token returned by `POST /nodes` and `POST /nodes/:id/enrollment`. */
export interface Enrollment {
  token: string;
  expiresAt: string;
  /** The command line that enrolls an agent with this token. */
  command: string;
}

/** `cmd.nodes.enroll` payload (sent with the bootstrap user). */
export const enrollSchema = z.object({
  token: text().min(16).max(8192),
  agent_version: text().max(64).optional(),
  hostname: text().max(255).optional(),
});
export type Enroll = z.infer<typeof enrollSchema>;

/** Reply of `cmd.nodes.enroll` (and of `POST /api/v1/agent/enroll`): the node id and the agent's own NATS credentials. */
export interface EnrollReply {
  node_id: string;
  /** `.creds` content for this agent only (agent.<id>.>, tel.<id>.>, its consoles, inboxes). */
  creds: string;
  /** The NATS URL the agent should connect to (the nodes service's public NATS URL). */
  nats_url?: string;
}

/** Body of `POST /api/v1/agent/enroll`: the short token and what the agent says about itself. */
export const agentEnrollSchema = z.object({
  token: text().min(16).max(128),
  agent_version: text().max(64).optional(),
  hostname: text().max(255).optional(),
});
export type AgentEnroll = z.infer<typeof agentEnrollSchema>;

/**
 * Short enrollment token (issue 14): `enc_<first 8 hex digits of the node id>_<32 url-safe random
 * characters>` (192 bits). A reference to server-side state: only its SHA-256 is stored, it is
 * single-use and expires; the agent trades it once for its credentials.
 */
export const SHORT_ENROLLMENT_TOKEN = /^enc_([0-9a-f]{8})_([A-Za-z0-9_-]{32})$/;

export function parseShortEnrollmentToken(token: string): { nodePrefix: string; secret: string } | undefined {
  const match = SHORT_ENROLLMENT_TOKEN.exec(token.trim());
  return match ? { nodePrefix: match[1], secret: match[2] } : undefined;
}

function fromBase64Url(text: string): string {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4);
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

function toBase64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Enrollment token: `enc1.<nodeId>.<secret>[.<base64url bootstrap creds>]`. The optional last part
 * carries the bootstrap NATS user (allowed only `cmd.nodes.enroll`, expiring with the token).
 */
export function parseEnrollmentToken(token: string): { nodeId: string; secret: string; bootstrapCreds?: string } | undefined {
  const parts = token.trim().split('.');
  if (parts[0] !== 'enc1' || parts.length < 3 || parts.length > 4) return undefined;
  if (!/^[0-9a-f-]{36}$/.test(parts[1]) || !/^[A-Za-z0-9_-]{20,}$/.test(parts[2])) return undefined;
  try {
    return { nodeId: parts[1], secret: parts[2], bootstrapCreds: parts[3] ? fromBase64Url(parts[3]) : undefined };
  } catch {
    return undefined;
  }
}

/** Appends bootstrap creds to a bare token. */
export function withBootstrapCreds(token: string, creds: string): string {
  return `${token}.${toBase64Url(creds)}`;
}
