import { z } from 'zod';
import { ERROR_CODES } from '../errors';
import type { ApiKeyView, PictureReply, RoleView, SshKeyView, TokenPair, UserView } from '../identity/identity.schemas';
import { nodeSpecSchema, usageHistoryRanges, type Enrollment, type EnrollReply, type NodeUsage, type NodeView, type UsageHistory } from '../fleet/nodes';
import { limitsSchema, templateVariableSchema, type TemplateView } from '../fleet/templates';
import { POWER_ACTIONS, SERVER_STATES, type PowerAction, type ServerView } from '../fleet/servers';
import { JOB_RUNTIMES, JOB_STATUSES, type JobSummary, type JobView } from '../fleet/jobs';
import { BACKUP_STATUSES, type BackupView } from '../files/backups';
import type { FsEntry, FsStats, QuotaView, RawFileView, VfsFileView } from '../files/files';
import type { ServerDirectoryCreated, ServerFileContents, ServerFileEntry, ServerFileModeChanged, ServerFileRenamed, ServerFileWritten } from '../fleet/server-files';
import { SUBUSER_PERMISSIONS, type SubuserPermission } from '../fleet/access';
import type { SubuserView } from '../fleet/subusers';
import type { ServerSftpView } from '../fleet/sftp';
import { ALERT_COMPARATORS, type AlertRuleView } from '../metrics/alerts';
import type { ExternalAgentDatum, ExternalAgentView } from '../metrics/external-agents';
import { METRICS_FIELDS, type LatestSample, type MetricsSeries } from '../metrics/metrics';
import { PLUGIN_RISKS, PLUGIN_STATES, type CatalogPluginView, type CatalogTemplateView, type InstalledPluginView, type PluginLogLine, type RepositoryView } from '../plugins/plugins';

/**
 * What the REST API answers, as zod schemas: the gateway's OpenAPI document is generated from
 * these (services/gateway/src/openapi). Each schema is checked by the compiler against the view
 * type the services return (`satisfies z.ZodType<View>`), so a field that changes in one place
 * and not the other fails the type-check.
 */

const isoTime = z.string().describe('ISO 8601 time');
const uuid = z.string().uuid();

/** Every error: `{ error, code, details? }` (libs/contracts/src/errors.ts). */
export const errorBodySchema = z
  .object({
    error: z.string().describe('What went wrong, for people'),
    code: z.string().describe(`Stable machine code, one of ${ERROR_CODES.join(', ')}`),
    details: z.unknown().optional(),
  })
  .meta({ id: 'Error' });

/** `{ items, nextCursor }` of every paginated list. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable().describe('null on the last page') });
}

export const roleRefSchema = z.object({ id: z.string(), name: z.string() });

export const userViewSchema = z
  .object({
    id: uuid,
    name: z.string(),
    email: z.string().nullable(),
    roles: z.array(roleRefSchema),
    disabled: z.boolean(),
    serviceAccount: z.boolean(),
    otpEnabled: z.boolean(),
    hasPicture: z.boolean(),
    createdAt: isoTime,
    updatedAt: isoTime,
    version: z.number().int(),
  })
  .meta({ id: 'User' }) satisfies z.ZodType<UserView>;

export const roleViewSchema = z
  .object({ id: z.string(), name: z.string(), permissions: z.array(z.string()), builtIn: z.boolean(), version: z.number().int() })
  .meta({ id: 'Role' }) satisfies z.ZodType<RoleView>;

export const apiKeyViewSchema = z
  .object({
    id: uuid,
    name: z.string(),
    prefix: z.string(),
    permissions: z.array(z.string()),
    expiresAt: isoTime.nullable(),
    serviceAccountId: z.string().nullable(),
    ownerId: z.string(),
    createdAt: isoTime,
    revokedAt: isoTime.nullable(),
  })
  .meta({ id: 'ApiKey' }) satisfies z.ZodType<ApiKeyView>;

/** `POST /api-keys`: the key itself is shown once. */
export const createdApiKeySchema = apiKeyViewSchema.extend({ key: z.string().describe('The secret, shown only in this answer') }).meta({ id: 'CreatedApiKey' });

export const sshKeyViewSchema = z
  .object({ id: uuid, name: z.string(), algorithm: z.string(), fingerprint: z.string(), public_key: z.string(), created_at: isoTime })
  .meta({ id: 'SshKey' }) satisfies z.ZodType<SshKeyView>;

export const tokenPairSchema = z.object({ accessToken: z.string(), refreshToken: z.string() }).meta({ id: 'TokenPair' }) satisfies z.ZodType<TokenPair>;

/** `POST /auth/login`: tokens, or a second step (email code) to take at `/auth/login/verify`. */
export const loginReplySchema = z
  .union([
    tokenPairSchema.extend({ userId: z.string(), sequence: z.number().int().optional() }),
    z.object({ otpRequired: z.literal(true), message: z.string() }),
  ])
  .meta({ id: 'LoginReply' });

export const messageReplySchema = z.object({ message: z.string() }).meta({ id: 'Message' });

export const pictureReplySchema = z.object({ contentType: z.string(), base64: z.string() }) satisfies z.ZodType<PictureReply>;

export const authMeSchema = z
  .object({
    user: userViewSchema,
    roles: z.array(z.object({ id: z.string(), name: z.string(), permissions: z.array(z.string()) })),
    permissions: z.array(z.string()),
  })
  .loose()
  .meta({ id: 'Me' });

export const permissionInfoSchema = z.object({ name: z.string(), description: z.string(), area: z.string() }).meta({ id: 'PermissionInfo' });

export const jwksSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).meta({ id: 'Jwks' });

const limitsView = limitsSchema;
const nodeSpecView = nodeSpecSchema;

export const nodeViewSchema = z
  .object({
    id: uuid,
    name: z.string(),
    memory_mb: z.number(),
    cpu_percent: z.number(),
    storage_size: z.union([z.string(), z.number()]),
    storage_mb: z.number(),
    tags: z.array(z.string()),
    state: z.enum(['online', 'offline']),
    enrolled: z.boolean(),
    draining: z.boolean(),
    spec: nodeSpecView.nullable(),
    allocated: z.object({ memory_mb: z.number(), cpu_percent: z.number(), disk_mb: z.number(), servers: z.number() }),
    lastSeenAt: isoTime.nullable(),
    createdAt: isoTime,
    version: z.number().int(),
  })
  .meta({ id: 'Node' }) satisfies z.ZodType<NodeView>;

export const enrollmentSchema = z
  .object({ token: z.string(), expiresAt: isoTime, command: z.string().describe('The command line that enrolls an agent with this token') })
  .meta({ id: 'Enrollment' }) satisfies z.ZodType<Enrollment>;

export const createdNodeSchema = nodeViewSchema.extend({ enrollment: enrollmentSchema }).meta({ id: 'CreatedNode' });

export const enrollReplySchema = z
  .object({ node_id: uuid, creds: z.string().describe('NATS .creds for this agent only'), nats_url: z.string().optional() })
  .meta({ id: 'EnrollReply' }) satisfies z.ZodType<EnrollReply>;

export const nodeUsageSchema = z
  .object({
    node_id: z.string(),
    memory_usage: z.number(),
    memory_limit: z.number(),
    cpu_percent: z.number(),
    load: z.array(z.number()),
    disk_used: z.number(),
    disk_total: z.number(),
    net_rx: z.number(),
    net_tx: z.number(),
    at: isoTime,
  })
  .meta({ id: 'NodeUsage' }) satisfies z.ZodType<NodeUsage>;

export const usageHistorySchema = z
  .object({ node_id: z.string(), range: z.enum(usageHistoryRanges), from: isoTime, to: isoTime, bucket_s: z.number(), items: z.array(nodeUsageSchema) })
  .meta({ id: 'UsageHistory' }) satisfies z.ZodType<UsageHistory>;

export const latestSampleSchema = z
  .object({
    target: z.string(),
    node_id: z.string(),
    t: z.number().describe('Epoch ms'),
    cpu_percent: z.number().nullable(),
    memory_bytes: z.number().nullable(),
    memory_limit_bytes: z.number().nullable(),
    disk_bytes: z.number().nullable(),
    net_rx: z.number().nullable(),
    net_tx: z.number().nullable(),
  })
  .loose()
  .meta({ id: 'LatestSample' }) satisfies z.ZodType<LatestSample>;

const serverUsageSchema = z.object({ cpu_percent: z.number(), memory_bytes: z.number(), memory_limit_bytes: z.number(), disk_bytes: z.number(), uptime_ms: z.number(), at: isoTime });

/** `GET /nodes/:id/metrics`: the node's newest sample, with the newest of each of its servers the caller sees. */
export const nodeLatestSchema = nodeUsageSchema
  .extend({ servers: z.array(serverUsageSchema.extend({ server_id: z.string() })) })
  .meta({ id: 'NodeLatestMetrics' });

export const templateViewSchema = z
  .object({
    id: uuid,
    name: z.string(),
    description: z.string().optional(),
    driver: z.enum(['docker', 'process']),
    image: z.string().optional(),
    startup: z.string(),
    startup_editable: z.boolean().optional(),
    variables: z.array(templateVariableSchema),
    stop: z.object({ command: z.string().optional(), signal: z.string().optional(), timeout_s: z.number() }),
    ready_pattern: z.string().optional(),
    install_script: z.string().optional(),
    limits: limitsView,
    restart: z.object({ on_crash: z.boolean(), max_attempts: z.number(), backoff_ms: z.number() }),
    builtIn: z.boolean(),
    version: z.number().int(),
  })
  .meta({ id: 'Template' }) satisfies z.ZodType<TemplateView>;

const subuserPermission = z.enum(SUBUSER_PERMISSIONS as unknown as [SubuserPermission, ...SubuserPermission[]]);

export const serverViewSchema = z
  .object({
    id: uuid,
    name: z.string(),
    template_id: z.string(),
    node_id: z.string(),
    owner_id: z.string(),
    state: z.enum(SERVER_STATES),
    desired: z.enum(['running', 'stopped']),
    limits: limitsView,
    variables: z.record(z.string(), z.string()),
    ports: z.array(z.object({ host: z.number().int(), container: z.number().int(), protocol: z.enum(['tcp', 'udp']) })),
    usage: serverUsageSchema.nullable(),
    last_exit: z.object({ code: z.number().int().nullable(), signal: z.string().nullable(), reason: z.string().optional(), at: isoTime }).nullable(),
    startup: z.string(),
    startup_editable: z.boolean(),
    subusers: z.array(z.object({ user_id: z.string(), permissions: z.array(subuserPermission) })),
    createdAt: isoTime,
    version: z.number().int(),
  })
  .meta({ id: 'Server' }) satisfies z.ZodType<ServerView>;

export const serverSftpSchema = z.object({ host: z.string(), port: z.number().int(), username: z.string() }) satisfies z.ZodType<ServerSftpView>;

/** `GET /servers/:id`: the server and how to reach its files over SFTP (null when off). */
export const serverDetailSchema = serverViewSchema.extend({ sftp: serverSftpSchema.nullable() }).meta({ id: 'ServerDetail' });

/** `POST /servers/:id/power`: the server after the action, and the action. */
export const serverPoweredSchema = serverViewSchema
  .extend({ action: z.enum(POWER_ACTIONS) })
  .meta({ id: 'ServerPowered' }) satisfies z.ZodType<ServerView & { action: PowerAction }>;

export const jobViewSchema = z
  .object({
    id: uuid,
    runtime: z.enum(JOB_RUNTIMES),
    status: z.enum(JOB_STATUSES),
    stdout: z.string(),
    stderr: z.string(),
    exit_code: z.number().int().nullable(),
    execution_time_ms: z.number().nullable(),
    node_id: z.string(),
    owner_id: z.string(),
    createdAt: isoTime,
    finishedAt: isoTime.nullable(),
  })
  .meta({ id: 'Job' }) satisfies z.ZodType<JobView>;

export const jobSummarySchema = jobViewSchema.omit({ stdout: true, stderr: true }).meta({ id: 'JobSummary' }) satisfies z.ZodType<JobSummary>;

const restoreStatus = z.enum(['pending', 'running', 'completed', 'failed']);
export const backupViewSchema = z
  .object({
    id: uuid,
    server_id: z.string(),
    name: z.string(),
    status: z.enum(BACKUP_STATUSES),
    size: z.number(),
    new_bytes: z.number(),
    files_count: z.number().int(),
    created_at: isoTime,
    completed_at: isoTime.nullable(),
    reason: z.string().optional(),
    progress_bytes: z.number().optional(),
    restore: z
      .object({ id: z.string(), status: restoreStatus, path: z.string().nullable(), reason: z.string().optional(), requested_at: isoTime, completed_at: isoTime.nullable() })
      .nullable()
      .optional(),
  })
  .meta({ id: 'Backup' }) satisfies z.ZodType<BackupView>;

export const deletedSchema = z.object({ id: z.string(), deleted: z.literal(true) });

export const rawFileViewSchema = z
  .object({ id: uuid, name: z.string(), size: z.number(), chunks_count: z.number().int(), status: z.literal('Uploaded'), sha256: z.string(), created_at: isoTime })
  .meta({ id: 'RawFile' }) satisfies z.ZodType<RawFileView>;

export const fsEntrySchema = z
  .object({ name: z.string(), type: z.enum(['file', 'folder']), size: z.number(), modified: isoTime })
  .meta({ id: 'FsEntry' }) satisfies z.ZodType<FsEntry>;

export const fsStatsSchema = z
  .object({ chunks: z.number(), stored_bytes: z.number(), logical_bytes: z.number(), dedupe_ratio: z.number() })
  .meta({ id: 'FsStats' }) satisfies z.ZodType<FsStats>;

export const quotaViewSchema = z.object({ used_bytes: z.number(), quota_bytes: z.number() }).meta({ id: 'Quota' }) satisfies z.ZodType<QuotaView>;

/** `POST /fs/upload` and a server file exported to the VFS. */
export const vfsFileViewSchema = z
  .object({
    path: z.string(),
    name: z.string(),
    type: z.literal('file'),
    size: z.number(),
    modified: isoTime,
    sha256: z.string(),
    chunks_count: z.number().int(),
  })
  .meta({ id: 'VfsFile' }) satisfies z.ZodType<VfsFileView>;

/** `POST /fs/mkdir`, `DELETE /fs/delete`, `POST /fs/move`. */
export const pathReplySchema = z.object({ message: z.string(), path: z.string() }).loose().meta({ id: 'PathReply' });

export const serverFileEntrySchema = z
  .object({
    name: z.string(),
    type: z.enum(['file', 'directory', 'symlink', 'other']),
    size: z.number(),
    mode: z.string().describe('Permission bits as octal text, e.g. 0644'),
    modified: isoTime,
  })
  .meta({ id: 'ServerFileEntry' }) satisfies z.ZodType<ServerFileEntry>;

export const serverFileContentsSchema = z.object({ data: z.string(), size: z.number() }) satisfies z.ZodType<ServerFileContents>;

export const serverFileRenamedSchema = z.object({ renamed: z.literal(true) }).meta({ id: 'ServerFileRenamed' }) satisfies z.ZodType<ServerFileRenamed>;
export const serverDirectoryCreatedSchema = z.object({ created: z.literal(true) }).meta({ id: 'ServerDirectoryCreated' }) satisfies z.ZodType<ServerDirectoryCreated>;
export const serverFileModeChangedSchema = z.object({ changed: z.literal(true) }).meta({ id: 'ServerFileModeChanged' }) satisfies z.ZodType<ServerFileModeChanged>;

/** `POST /servers/:id/files/upload` and `import`, once committed. */
export const serverFileWrittenSchema = z
  .object({ path: z.string().describe('The file\'s path in the server directory'), size: z.number().int().describe('Bytes written') })
  .meta({ id: 'ServerFileWritten' }) satisfies z.ZodType<ServerFileWritten>;

export const subuserViewSchema = z
  .object({
    server_id: z.string(),
    user_id: z.string(),
    permissions: z.array(subuserPermission),
    version: z.number().int(),
    name: z.string().nullable(),
    email: z.string().nullable(),
  })
  .meta({ id: 'Subuser' }) satisfies z.ZodType<SubuserView>;

export const alertRuleViewSchema = z
  .object({
    id: uuid,
    name: z.string(),
    target: z.string(),
    target_name: z.string().optional().describe("The target server's or node's name, when the caller may see it"),
    field: z.enum(METRICS_FIELDS),
    comparator: z.enum(ALERT_COMPARATORS),
    threshold: z.number(),
    for_s: z.number(),
    firing: z.boolean(),
    raised_at: isoTime.nullable(),
    version: z.number().int(),
    createdAt: isoTime,
  })
  .meta({ id: 'AlertRule' }) satisfies z.ZodType<AlertRuleView>;

export const externalAgentViewSchema = z
  .object({ id: z.string(), state: z.enum(['active', 'inactive']), last_seen: isoTime, timeout_s: z.number().nullable(), types: z.array(z.string()) })
  .meta({ id: 'ExternalAgent' }) satisfies z.ZodType<ExternalAgentView>;

export const successSchema = z.object({ success: z.boolean() }).loose().meta({ id: 'Success' });

export const metricsSeriesSchema = z
  .object({
    target: z.string(),
    step: z.number().describe('Seconds per point'),
    from: isoTime,
    to: isoTime,
    resolution: z.enum(['raw', '1m', '1h']),
    points: z.array(
      z.object({
        t: isoTime,
        cpu_percent: z.number().nullable(),
        memory_bytes: z.number().nullable(),
        disk_bytes: z.number().nullable(),
        net_rx: z.number().nullable(),
        net_tx: z.number().nullable(),
        memory_limit_bytes: z.number().nullable().optional(),
      }),
    ),
  })
  .meta({ id: 'MetricsSeries' }) satisfies z.ZodType<MetricsSeries>;

export const agentSeriesSchema = z
  .object({
    agent_id: z.string(),
    series: z.string(),
    step: z.number(),
    resolution: z.string(),
    points: z.array(z.object({ t: isoTime, avg: z.number(), min: z.number(), max: z.number() })),
  })
  .meta({ id: 'AgentSeries' });
export const agentDataSchema = z
  .object({ agent_id: z.string(), items: z.array(z.object({ t: isoTime, type: z.string(), data: z.record(z.string(), z.unknown()) })) })
  .meta({ id: 'AgentDataPage' }) satisfies z.ZodType<{ agent_id: string; items: ExternalAgentDatum[] }>;

/** `POST /servers/:id/command`: the line went to the server's stdin. */
export const commandSentSchema = z.object({ sent: z.literal(true) }).meta({ id: 'CommandSent' });

export const repositoryViewSchema = z
  .object({
    id: uuid,
    name: z.string(),
    url: z.string(),
    branch: z.string(),
    status: z.enum(['pending', 'synced', 'failed']),
    commit: z.string().nullable(),
    last_error: z.string().nullable(),
    synced_at: isoTime.nullable(),
    plugins: z.number().int(),
    templates: z.number().int(),
  })
  .meta({ id: 'PluginRepository' }) satisfies z.ZodType<RepositoryView>;

export const catalogPluginViewSchema = z
  .object({
    id: z.string(),
    repository_id: z.string(),
    name: z.string(),
    version: z.string(),
    description: z.string(),
    category: z.string().nullable(),
    tags: z.array(z.string()),
    events: z.array(z.string()),
    permissions: z.array(z.string()),
    risk: z.enum(PLUGIN_RISKS),
    config_schema: z.unknown(),
    avg_rating: z.number().nullable(),
    rating_count: z.number().int(),
    install_count: z.number().int(),
  })
  .meta({ id: 'CatalogPlugin' }) satisfies z.ZodType<CatalogPluginView>;

export const installedPluginViewSchema = z
  .object({
    id: z.string(),
    catalog_id: z.string(),
    name: z.string(),
    version: z.string(),
    state: z.enum(PLUGIN_STATES),
    risk: z.enum(PLUGIN_RISKS),
    events: z.array(z.string()),
    permissions: z.array(z.string()),
    config: z.unknown(),
    installed_by: z.string(),
    installed_at: isoTime,
    last_error: z.string().nullable(),
    suspended_reason: z.string().nullable(),
    lag: z.number().nullable(),
    dead_letters: z.number().int(),
    version_number: z.number().int(),
  })
  .meta({ id: 'InstalledPlugin' }) satisfies z.ZodType<InstalledPluginView>;

export const pluginLogLineSchema = z
  .object({ at: isoTime, level: z.enum(['info', 'warn', 'error']), message: z.string() })
  .meta({ id: 'PluginLogLine' }) satisfies z.ZodType<PluginLogLine>;

export const catalogTemplateViewSchema = z
  .object({
    id: z.string(),
    repository_id: z.string(),
    name: z.string(),
    description: z.string(),
    category: z.string().nullable(),
    tags: z.array(z.string()),
    template: z.record(z.string(), z.unknown()).describe('The body of POST /templates'),
  })
  .meta({ id: 'CatalogTemplate' }) satisfies z.ZodType<CatalogTemplateView>;

/** `GET /events`: a page of recorded events (CloudEvents) and the stream's last sequence. */
export const recordedEventSchema = z
  .object({
    sequence: z.number().int(),
    event: z
      .object({
        specversion: z.literal('1.0'),
        id: z.string(),
        source: z.string(),
        type: z.string(),
        subject: z.string(),
        time: isoTime,
        datacontenttype: z.literal('application/json'),
        data: z.unknown(),
        actor: z.string(),
        correlationid: z.string().optional(),
        aggregateversion: z.number().int(),
      })
      .loose(),
    subjectName: z.string().optional().describe('Name of the server, node, template, user or role the event is about, when the caller may see it'),
    actorName: z.string().optional().describe('Name of the user (or API key owner, or node of the agent) that caused it'),
  })
  .meta({ id: 'RecordedEvent' });

export const eventsPageSchema = pageOf(recordedEventSchema).extend({ lastSequence: z.number().int() }).meta({ id: 'EventsPage' });

export const auditEntrySchema = z
  .object({
    sequence: z.number().int(),
    time: isoTime,
    actor: z.string(),
    actorName: z.string().optional(),
    action: z.string(),
    subject: z.string(),
    subjectName: z.string().optional().describe('Name of the server, node, template, user or role, when the caller may see it'),
    correlationId: z.string().nullable(),
  })
  .loose()
  .meta({ id: 'AuditEntry' });

export const integrationViewSchema = z
  .object({
    id: uuid,
    name: z.string(),
    filter: z.string(),
    consumerNames: z.array(z.string()),
    issuedAt: isoTime,
    expiresAt: isoTime,
    revokedAt: isoTime.nullable(),
    status: z.enum(['active', 'expired', 'revoked']),
  })
  .meta({ id: 'IntegrationCredentials' });

/** `POST /integrations/nats-credentials`: the credentials, shown once. */
export const issuedIntegrationSchema = z
  .object({
    id: uuid,
    name: z.string(),
    filter: z.string(),
    expiresAt: isoTime,
    servers: z.array(z.string()),
    inboxPrefix: z.string(),
    consumerNames: z.array(z.string()),
    creds: z.string().describe('NATS .creds file content'),
  })
  .meta({ id: 'IssuedIntegrationCredentials' });

export const healthSchema = z
  .object({ status: z.enum(['up', 'degraded', 'down']), time: isoTime, deadLetters: z.number().int() })
  .loose()
  .describe('Each dependency (nats, jetstream, postgres, projections, services) with its status')
  .meta({ id: 'Health' });
