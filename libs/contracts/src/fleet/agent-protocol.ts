import { z } from 'zod';
import { text } from '../text';
import { nodeSpecSchema } from './nodes';
import type { JobRuntime, JobStatus } from './jobs';
import type { Limits } from './templates';
import type { Port, PowerAction } from './servers';

/**
 * The protocol between the nodes service and an agent (docs/fleet.md).
 * Commands are core NATS request/reply on `agent.<nodeId>.cmd.<verb>` with a JSON body; the reply
 * is `{ ok: true, data }` or `{ ok: false, error: { error, code, details? } }`.
 */
export const AGENT_VERBS = {
  /** Full desired state + fresh credentials; sent after every boot report. */
  sync: 'sync',
  /** New credentials (the server set changed); the agent stores them and reconnects. */
  credentials: 'credentials',
  createServer: 'create_server',
  power: 'power',
  /** One console line to a server's stdin. */
  write: 'write',
  removeServer: 'remove_server',
  runJob: 'run_job',
  cancelJob: 'cancel_job',
  ping: 'ping',
  /** Open SFTP sessions an access change may have ended: re-check them, or end them (fleet/sftp.ts). */
  sftpRecheck: 'sftp_recheck',
} as const;

/** Report kinds on `agent.<nodeId>.report.<kind>` (stream AGENT_REPORTS). */
export const AGENT_REPORTS = {
  boot: 'boot',
  serverInstalled: 'server_installed',
  serverStarted: 'server_started',
  serverReady: 'server_ready',
  serverExited: 'server_exited',
  /** A write, mkdir, rename, remove, rmdir or chmod done over SFTP, with the user (recorded as server.files_changed). */
  sftpChange: 'sftp_change',
} as const;

export type AgentReply<T = unknown> = { ok: true; data: T } | { ok: false; error: { error: string; code: string; details?: unknown } };

/** Everything the agent needs to run one server (the nodes service renders the template). */
export interface AgentServerSpec {
  id: string;
  driver: 'process' | 'docker';
  image?: string;
  /** Startup line with variables already rendered (shell-quoted). */
  startup: string;
  env: Record<string, string>;
  limits: Limits;
  ports: Port[];
  stop: { command?: string; signal?: string; timeout_s: number };
  ready_pattern?: string;
  install_script?: string;
  /** Whether the server should be running. */
  desired: 'running' | 'stopped';
}

export interface SyncCommand {
  creds?: string;
  servers: AgentServerSpec[];
}

export interface ObservedServer {
  id: string;
  state: 'running' | 'stopped';
  run_id: string | null;
  installed: boolean;
}

export interface SyncReply {
  servers: ObservedServer[];
}

export interface PowerCommand {
  server_id: string;
  action: PowerAction;
  /** The spec to (re)create the server with before a start: limit and variable changes apply here. */
  spec?: AgentServerSpec;
}

export interface ExitFacts {
  code: number | null;
  signal: string | null;
  expected: boolean;
  reason?: string;
}

export interface PowerReply {
  state: 'running' | 'stopped';
  run_id: string | null;
  /** How the previous run ended, when this action ended it. */
  exit?: ExitFacts & { run_id: string | null };
}

export interface RunJobCommand {
  job_id: string;
  runtime: JobRuntime;
  code: string;
  stdin?: string;
  timeout_ms: number;
  memory_mb: number;
}

export interface JobResultReply {
  status: Exclude<JobStatus, 'queued' | 'running'>;
  stdout: string;
  stderr: string;
  exit_code: number | null;
  execution_time_ms: number;
  /** What isolation the sandbox had (for the record). */
  isolation?: Record<string, unknown>;
}

/**
 * The nodes service's reading of a `run_job` reply: output strings are kept as printed (the decider
 * turns NUL bytes into U+FFFD); a reply that fails this is recorded as a failed job.
 */
export const jobResultReplySchema = z.object({
  status: z.enum(['succeeded', 'failed', 'timeout', 'killed', 'cancelled']),
  stdout: z.string(),
  stderr: z.string(),
  exit_code: z.number().int().nullable(),
  execution_time_ms: z.number().nonnegative(),
  isolation: z.record(z.string(), z.unknown()).optional(),
});

export const bootReportSchema = z.object({
  spec: nodeSpecSchema,
  at: z.number(),
});
export type BootReport = z.infer<typeof bootReportSchema>;

// Every report is parsed with its schema before anything is appended: an agent is not trusted to
// send only strings Postgres can store (DESIGN.md §6); a report that fails is dropped.
export const serverInstalledReportSchema = z.object({
  server_id: z.uuid(),
  success: z.boolean(),
  error: text().max(64 * 1024).optional(),
  at: z.number(),
});
export type ServerInstalledReport = z.infer<typeof serverInstalledReportSchema>;

export const serverStartedReportSchema = z.object({
  server_id: z.uuid(),
  run_id: text().max(200),
  at: z.number(),
});
export type ServerStartedReport = z.infer<typeof serverStartedReportSchema>;

export const serverReadyReportSchema = serverStartedReportSchema;

export const sftpChangeReportSchema = z.object({
  server_id: z.uuid(),
  user_id: z.uuid(),
  op: z.enum(['write', 'mkdir', 'rename', 'remove', 'rmdir', 'chmod']),
  path: text().max(4200),
  to: text().max(4200).optional(),
  at: z.number(),
});
export type SftpChangeReport = z.infer<typeof sftpChangeReportSchema>;
export type ServerReadyReport = z.infer<typeof serverReadyReportSchema>;

export const serverExitedReportSchema = z.object({
  server_id: z.uuid(),
  run_id: text().max(200).nullable(),
  code: z.number().int().nullable(),
  signal: text().max(32).nullable(),
  expected: z.boolean(),
  reason: text().max(4096).optional(),
  at: z.number(),
});
export type ServerExitedReport = z.infer<typeof serverExitedReportSchema>;

/** `agent.<nodeId>.heartbeat` (core NATS). */
export interface Heartbeat {
  /** Agent clock, epoch ms. */
  at: number;
  seq: number;
  /** Heartbeat period; liveness declares the node offline after three missed. */
  interval_ms: number;
  version: string;
  /** When the agent's NATS credentials expire, epoch ms: the nodes service re-mints them in time. */
  creds_expires_at?: number;
}

/** One server's sample inside a node usage message. */
export interface ServerUsageSample {
  server_id: string;
  cpu_percent: number;
  memory_bytes: number;
  memory_limit_bytes: number;
  disk_bytes: number;
  uptime_ms: number;
}

/** `tel.<nodeId>.usage` */
export interface NodeUsageSample {
  node_id: string;
  at: number;
  cpu_percent: number;
  load: number[];
  memory_used: number;
  memory_total: number;
  disk_used: number;
  disk_total: number;
  net_rx: number;
  net_tx: number;
  servers: ServerUsageSample[];
}

/** `console.<serverId>.out` payload: one line. */
export interface ConsoleLine {
  line: string;
  stream: 'stdout' | 'stderr' | 'system';
  at: number;
}
