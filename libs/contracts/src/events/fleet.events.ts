import { z } from 'zod';
import { defineEvent } from './registry';
import { nodeSpecSchema } from '../fleet/nodes';
import { limitsSchema, templateVariableSchema } from '../fleet/templates';

/*
 * Events of the fleet: nodes, templates, servers, jobs (owned by services/nodes).
 * Past tense; versioned by adding optional fields only.
 */

const tags = z.array(z.string());
const portSchema = z.object({ host: z.number().int(), container: z.number().int(), protocol: z.enum(['tcp', 'udp']) });
const stopSchema = z.object({ command: z.string().optional(), signal: z.string().optional(), timeout_s: z.number() });
const restartSchema = z.object({ on_crash: z.boolean(), max_attempts: z.number().int(), backoff_ms: z.number().int() });

// ---- node
export const NodeCreated = defineEvent(
  'node.created',
  z.object({
    name: z.string(),
    memory_mb: z.number().int(),
    cpu_percent: z.number().int(),
    storage_size: z.union([z.string(), z.number()]),
    storage_mb: z.number().int(),
    tags,
    enrollment_expires_at: z.string(),
  }),
  'A node was registered; an agent may enroll with its one-time token until enrollment_expires_at.',
);
export const NodeUpdated = defineEvent(
  'node.updated',
  z.object({
    name: z.string().optional(),
    memory_mb: z.number().int().optional(),
    cpu_percent: z.number().int().optional(),
    storage_size: z.union([z.string(), z.number()]).optional(),
    storage_mb: z.number().int().optional(),
    tags: tags.optional(),
    draining: z.boolean().optional(),
  }),
  'Fields of a node changed (only the changed ones are present).',
);
export const NodeDeleted = defineEvent('node.deleted', z.object({}), 'A node was removed.');
export const NodeEnrollmentIssued = defineEvent(
  'node.enrollment_issued',
  z.object({ enrollment_expires_at: z.string() }),
  'A new one-time enrollment token was issued (earlier ones are void).',
);
export const NodeEnrolled = defineEvent(
  'node.enrolled',
  z.object({ agent_version: z.string().optional(), hostname: z.string().optional() }),
  'An agent enrolled with the token and received its own NATS credentials.',
);
export const NodeDrained = defineEvent('node.drained', z.object({}), 'No new servers are placed on the node; running ones keep running.');
export const NodeCameOnline = defineEvent('node.came_online', z.object({ at: z.string() }), 'The node agent is heartbeating again.');
export const NodeWentOffline = defineEvent(
  'node.went_offline',
  z.object({ last_seen_at: z.string().nullable(), missed: z.number().int() }),
  'The agent missed three heartbeats in a row.',
);
export const NodeSpecReported = defineEvent('node.spec_reported', z.object({ spec: nodeSpecSchema }), 'The agent booted and reported its machine.');

// ---- template
const templateData = {
  name: z.string(),
  description: z.string().optional(),
  driver: z.enum(['docker', 'process']),
  image: z.string().optional(),
  startup: z.string(),
  variables: z.array(templateVariableSchema),
  stop: stopSchema,
  ready_pattern: z.string().optional(),
  install_script: z.string().optional(),
  limits: limitsSchema,
  restart: restartSchema,
};
export const TemplateCreated = defineEvent(
  'template.created',
  z.object({ ...templateData, built_in: z.boolean() }),
  'A server template (egg) was created.',
);
export const TemplateUpdated = defineEvent(
  'template.updated',
  z.object({
    name: z.string().optional(),
    description: z.string().optional(),
    image: z.string().optional(),
    startup: z.string().optional(),
    variables: z.array(templateVariableSchema).optional(),
    stop: stopSchema.optional(),
    ready_pattern: z.string().optional(),
    install_script: z.string().optional(),
    limits: limitsSchema.optional(),
    restart: restartSchema.optional(),
  }),
  'Fields of a template changed; servers pick them up at their next start only for fields they copy at creation (none: servers snapshot the template).',
);
export const TemplateDeleted = defineEvent('template.deleted', z.object({}), 'A template was removed.');

// ---- server
export const ServerCreated = defineEvent(
  'server.created',
  z.object({
    name: z.string(),
    template_id: z.string(),
    node_id: z.string(),
    owner_id: z.string(),
    limits: limitsSchema,
    variables: z.record(z.string(), z.string()),
    ports: z.array(portSchema),
    /** The template as it was at creation: a server keeps running the same way when its template changes. */
    template: z.object(templateData),
  }),
  'A server was created on a node from a template.',
);
export const ServerUpdated = defineEvent(
  'server.updated',
  z.object({
    name: z.string().optional(),
    limits: limitsSchema.optional(),
    variables: z.record(z.string(), z.string()).optional(),
    ports: z.array(portSchema).optional(),
  }),
  'Limits, variables, ports or name changed; they apply at the next start.',
);
export const ServerDeleted = defineEvent('server.deleted', z.object({}), 'The server and its directory were removed.');
export const ServerInstallStarted = defineEvent('server.install_started', z.object({}), 'The agent was asked to prepare the server (directory, install script).');
export const ServerInstalled = defineEvent(
  'server.installed',
  z.object({ success: z.boolean(), error: z.string().optional() }),
  'Preparation finished; on failure the server stays in install_failed.',
);
export const ServerStartRequested = defineEvent('server.start_requested', z.object({}), 'Someone asked the server to start (desired state: running).');
export const ServerStarting = defineEvent('server.starting', z.object({ run_id: z.string() }), 'The agent started the process; it is not ready yet.');
export const ServerRunning = defineEvent('server.running', z.object({ run_id: z.string() }), 'The console matched ready_pattern (or the template has none).');
export const ServerStopRequested = defineEvent('server.stop_requested', z.object({}), 'Someone asked the server to stop (desired state: stopped).');
export const ServerStopping = defineEvent('server.stopping', z.object({}), 'The agent is stopping the server: stop command, then signal, then SIGKILL.');
const exitData = {
  run_id: z.string().nullable(),
  exit_code: z.number().int().nullable(),
  signal: z.string().nullable(),
  reason: z.string().optional(),
};
export const ServerStopped = defineEvent('server.stopped', z.object(exitData), 'The server stopped as asked.');
export const ServerKilled = defineEvent('server.killed', z.object(exitData), 'The server was killed (SIGKILL) as asked.');
export const ServerCrashed = defineEvent(
  'server.crashed',
  z.object({ ...exitData, will_restart: z.boolean(), attempt: z.number().int().optional(), restart_in_ms: z.number().int().optional() }),
  'The server exited without being asked to (or a limit ended it).',
);
export const ServerRestarted = defineEvent(
  'server.restarted',
  z.object({ by: z.enum(['action', 'policy']), attempt: z.number().int().optional() }),
  'A restart began: by a power action, or by the template restart policy after a crash.',
);

// ---- job
export const JobCreated = defineEvent(
  'job.created',
  z.object({
    runtime: z.enum(['python3', 'node', 'bash']),
    code: z.string(),
    stdin: z.string().optional(),
    timeout_ms: z.number().int(),
    memory_mb: z.number().int(),
    node_id: z.string(),
    owner_id: z.string(),
  }),
  'A one-off job (lambda) was accepted and placed on a node.',
);
export const JobStarted = defineEvent('job.started', z.object({}), 'The agent began running the job.');
export const JobFinished = defineEvent(
  'job.finished',
  z.object({
    status: z.enum(['succeeded', 'failed', 'timeout', 'killed', 'cancelled']),
    stdout: z.string(),
    stderr: z.string(),
    exit_code: z.number().int().nullable(),
    execution_time_ms: z.number().int(),
    truncated: z.boolean().optional(),
  }),
  'The job ended; output is capped at 64 KiB per stream in the event.',
);
export const JobCancelled = defineEvent('job.cancelled', z.object({}), 'Someone cancelled the job.');

export const FLEET_EVENTS = [
  NodeCreated, NodeUpdated, NodeDeleted, NodeEnrollmentIssued, NodeEnrolled, NodeDrained, NodeCameOnline, NodeWentOffline, NodeSpecReported,
  TemplateCreated, TemplateUpdated, TemplateDeleted,
  ServerCreated, ServerUpdated, ServerDeleted, ServerInstallStarted, ServerInstalled, ServerStartRequested, ServerStarting, ServerRunning,
  ServerStopRequested, ServerStopping, ServerStopped, ServerKilled, ServerCrashed, ServerRestarted,
  JobCreated, JobStarted, JobFinished, JobCancelled,
] as const;
