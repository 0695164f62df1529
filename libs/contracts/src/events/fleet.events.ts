import { z } from 'zod';
import { text } from '../text';
import { defineEvent } from './registry';
import { nodeSpecSchema } from '../fleet/nodes';
import { limitsSchema, templateVariableSchema } from '../fleet/templates';
import { SUBUSER_PERMISSIONS, type SubuserPermission } from '../fleet/access';

/*
 * Events of the fleet: nodes, templates, servers, jobs (owned by services/nodes).
 * Past tense; versioned by adding optional fields only.
 */

const tags = z.array(text());
const portSchema = z.object({ host: z.number().int(), container: z.number().int(), protocol: z.enum(['tcp', 'udp']) });
const stopSchema = z.object({ command: text().optional(), signal: text().optional(), timeout_s: z.number() });
const restartSchema = z.object({ on_crash: z.boolean(), max_attempts: z.number().int(), backoff_ms: z.number().int() });

// ---- node
export const NodeCreated = defineEvent(
  'node.created',
  z.object({
    name: text(),
    memory_mb: z.number().int(),
    cpu_percent: z.number().int(),
    storage_size: z.union([text(), z.number()]),
    storage_mb: z.number().int(),
    tags,
    enrollment_expires_at: text(),
  }),
  'A node was registered; an agent may enroll with its one-time token until enrollment_expires_at.',
);
export const NodeUpdated = defineEvent(
  'node.updated',
  z.object({
    name: text().optional(),
    memory_mb: z.number().int().optional(),
    cpu_percent: z.number().int().optional(),
    storage_size: z.union([text(), z.number()]).optional(),
    storage_mb: z.number().int().optional(),
    tags: tags.optional(),
    draining: z.boolean().optional(),
  }),
  'Fields of a node changed (only the changed ones are present).',
);
export const NodeDeleted = defineEvent('node.deleted', z.object({}), 'A node was removed.');
export const NodeEnrollmentIssued = defineEvent(
  'node.enrollment_issued',
  z.object({ enrollment_expires_at: text() }),
  'A new one-time enrollment token was issued (earlier ones are void).',
);
export const NodeEnrolled = defineEvent(
  'node.enrolled',
  z.object({ agent_version: text().optional(), hostname: text().optional() }),
  'An agent enrolled with the token and received its own NATS credentials.',
);
export const NodeDrained = defineEvent('node.drained', z.object({}), 'No new servers are placed on the node; running ones keep running.');
export const NodeCameOnline = defineEvent('node.came_online', z.object({ at: text() }), 'The node agent is heartbeating again.');
export const NodeWentOffline = defineEvent(
  'node.went_offline',
  z.object({ last_seen_at: text().nullable(), missed: z.number().int() }),
  'The agent missed three heartbeats in a row.',
);
export const NodeSpecReported = defineEvent('node.spec_reported', z.object({ spec: nodeSpecSchema }), 'The agent booted and reported its machine.');

// ---- template
const templateData = {
  name: text(),
  description: text().optional(),
  driver: z.enum(['docker', 'process']),
  image: text().optional(),
  startup: text(),
  startup_editable: z.boolean().optional(),
  variables: z.array(templateVariableSchema),
  stop: stopSchema,
  ready_pattern: text().optional(),
  install_script: text().optional(),
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
    name: text().optional(),
    description: text().optional(),
    image: text().optional(),
    startup: text().optional(),
    startup_editable: z.boolean().optional(),
    variables: z.array(templateVariableSchema).optional(),
    stop: stopSchema.optional(),
    ready_pattern: text().optional(),
    install_script: text().optional(),
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
    name: text(),
    template_id: text(),
    node_id: text(),
    owner_id: text(),
    limits: limitsSchema,
    variables: z.record(text(), text()),
    ports: z.array(portSchema),
    /** The template as it was at creation: a server keeps running the same way when its template changes. */
    template: z.object(templateData),
  }),
  'A server was created on a node from a template.',
);
export const ServerUpdated = defineEvent(
  'server.updated',
  z.object({
    name: text().optional(),
    limits: limitsSchema.optional(),
    variables: z.record(text(), text()).optional(),
    ports: z.array(portSchema).optional(),
    /** The server's own startup line; null: its template's again. */
    startup: text().nullable().optional(),
  }),
  'Limits, variables, ports, startup line or name changed; they apply at the next start.',
);
export const ServerDeleted = defineEvent('server.deleted', z.object({}), 'The server and its directory were removed.');
export const ServerInstallStarted = defineEvent('server.install_started', z.object({}), 'The agent was asked to prepare the server (directory, install script).');
export const ServerInstalled = defineEvent(
  'server.installed',
  z.object({ success: z.boolean(), error: text().optional() }),
  'Preparation finished; on failure the server stays in install_failed.',
);
export const ServerStartRequested = defineEvent('server.start_requested', z.object({}), 'Someone asked the server to start (desired state: running).');
export const ServerStarting = defineEvent('server.starting', z.object({ run_id: text() }), 'The agent started the process; it is not ready yet.');
export const ServerRunning = defineEvent('server.running', z.object({ run_id: text() }), 'The console matched ready_pattern (or the template has none).');
export const ServerStopRequested = defineEvent('server.stop_requested', z.object({}), 'Someone asked the server to stop (desired state: stopped).');
export const ServerStopping = defineEvent('server.stopping', z.object({}), 'The agent is stopping the server: stop command, then signal, then SIGKILL.');
const exitData = {
  run_id: text().nullable(),
  exit_code: z.number().int().nullable(),
  signal: text().nullable(),
  reason: text().optional(),
};
export const ServerStopped = defineEvent('server.stopped', z.object(exitData), 'The server stopped as asked.');
export const ServerKilled = defineEvent('server.killed', z.object(exitData), 'The server was killed (SIGKILL) as asked.');
export const ServerCrashed = defineEvent(
  'server.crashed',
  z.object({
    ...exitData,
    will_restart: z.boolean(),
    attempt: z.number().int().optional(),
    restart_in_ms: z.number().int().optional(),
    /** When the restart policy restarts it (ISO time); absent in events written before restarts were scheduled by time. */
    due_at: text().optional(),
  }),
  'The server exited without being asked to (or a limit ended it). With will_restart, the restart policy restarts it at due_at (the schedule survives a restart of the nodes service).',
);
export const ServerInstallAttemptFailed = defineEvent(
  'server.install_attempt_failed',
  z.object({ attempt: z.number().int(), error: text(), retry_at: text().nullable() }),
  'The agent could not be reached to install the server; it is tried again at retry_at, or (null) when the node next syncs.',
);
export const ServerFilesChanged = defineEvent(
  'server.files_changed',
  z.object({
    /** How: over SFTP (the agent's report) or the file manager's REST verbs. */
    via: z.enum(['sftp', 'rest']),
    /** copy, compress and decompress come over REST only; a REST delete is one `remove` per path. */
    op: z.enum(['write', 'mkdir', 'rename', 'remove', 'rmdir', 'chmod', 'copy', 'compress', 'decompress']),
    /** Path inside the server's directory (`/` is its root); a compress's archive. */
    path: text(),
    /** A rename's new path, a copy's new file. */
    to: text().optional(),
    /** The node whose agent made the change. */
    node_id: text().uuid(),
  }),
  "A user changed the server's files (the actor): a file written, a directory made, an entry renamed, copied or removed, permissions changed, an archive made or extracted. One event per operation (a REST delete, per path); the audit log shows them.",
);
const subuserPermissions = z.array(z.enum(SUBUSER_PERMISSIONS as [SubuserPermission, ...SubuserPermission[]]));
export const ServerSubuserAdded = defineEvent(
  'server.subuser_added',
  z.object({ user_id: text(), permissions: subuserPermissions }),
  "The server's owner (or someone it let manage sub-users) granted another user these actions on the server (docs/subusers.md).",
);
export const ServerSubuserChanged = defineEvent(
  'server.subuser_changed',
  z.object({ user_id: text(), permissions: subuserPermissions }),
  "A sub-user's permissions on the server were replaced by these.",
);
export const ServerSubuserRemoved = defineEvent(
  'server.subuser_removed',
  z.object({ user_id: text() }),
  'A sub-user lost all access to the server; its next request or socket action is refused.',
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
    /** Only in events written before code moved out of EVENTS; newer ones carry code_sha256 + code_bytes. */
    code: text().optional(),
    /** SHA-256 (hex) of the code, kept by the nodes service for a retention period (docs/fleet.md), never in EVENTS. */
    code_sha256: text().optional(),
    /** Size of the code in UTF-8 bytes. */
    code_bytes: z.number().int().optional(),
    /** Only in events written before stdin moved out of EVENTS. */
    stdin: text().optional(),
    /** SHA-256 (hex) of stdin, when there is one. */
    stdin_sha256: text().optional(),
    /** Size of stdin in UTF-8 bytes. */
    stdin_bytes: z.number().int().optional(),
    timeout_ms: z.number().int(),
    memory_mb: z.number().int(),
    node_id: text(),
    owner_id: text(),
  }),
  'A one-off job (lambda) was accepted and placed on a node. Its code and stdin are not in the event: only their SHA-256 and size.',
);
export const JobStarted = defineEvent('job.started', z.object({}), 'The agent began running the job.');
export const JobFinished = defineEvent(
  'job.finished',
  z.object({
    status: z.enum(['succeeded', 'failed', 'timeout', 'killed', 'cancelled']),
    stdout: text(),
    stderr: text(),
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
  ServerStopRequested, ServerStopping, ServerStopped, ServerKilled, ServerCrashed, ServerRestarted, ServerInstallAttemptFailed,
  ServerSubuserAdded, ServerSubuserChanged, ServerSubuserRemoved,
  JobCreated, JobStarted, JobFinished, JobCancelled,
] as const;
