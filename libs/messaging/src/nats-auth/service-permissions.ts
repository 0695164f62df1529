import { BACKUP_AGENT_VERBS, STREAMS } from '@encedeus/contracts';
import { LEASE_BUCKET, SNAPSHOT_BUCKET, STREAM_CONFIGS } from '../streams';
import type { SubjectPermissions } from './operator';

/** Reply inboxes; mintUserCreds narrows this to the user's own `_INBOX_<name>.>` and drops it from pub. */
const INBOX = ['_INBOX.>'];

/**
 * Durable consumers and who owns them. Only the owner may create, update, delete, pull from or ack
 * on one; every other service user is denied those subjects (see jetStreamClient). A service that
 * adds a durable adds it here. Integrators' durables (`integ_…`) belong to the gateway.
 */
export const DURABLE_OWNERS: ReadonlyArray<{ stream: string; name: string; owner: string }> = [
  { stream: STREAMS.events, name: 'gateway_audit', owner: 'gateway' },
  { stream: STREAMS.events, name: 'gateway_identity', owner: 'gateway' },
  { stream: STREAMS.events, name: 'gateway_fleet_names', owner: 'gateway' },
  { stream: STREAMS.events, name: 'users_read_model', owner: 'users' },
  { stream: STREAMS.events, name: 'auth_user_credentials', owner: 'auth' },
  { stream: STREAMS.events, name: 'nodes_fleet_read_model', owner: 'nodes' },
  { stream: STREAMS.agentReports, name: 'nodes_agent_reports', owner: 'nodes' },
  { stream: STREAMS.events, name: 'files_read_model', owner: 'files' },
  { stream: STREAMS.telemetry, name: 'metrics_telemetry', owner: 'metrics' },
  { stream: STREAMS.events, name: 'metrics_alert_rules', owner: 'metrics' },
  { stream: STREAMS.events, name: 'plugins_read_model', owner: 'plugins' },
];

/**
 * Durables created at run time, one per installed plugin (`plugin_<id without dashes>`, owner
 * plugins; docs/plugins.md). Subject permissions match whole tokens, so no JWT can shut other
 * services out of a name prefix: their allow-lists name no plugin durable and no service code
 * touches one; the plugins service alone creates, reads and deletes them.
 */
export const DURABLE_PREFIXES: ReadonlyArray<{ stream: string; prefix: string; owner: string }> = [{ stream: STREAMS.events, prefix: 'plugin_', owner: 'plugins' }];

/**
 * The plugins service: its own events, the commands plugins may call through ctx.api (PLUGIN_API:
 * nodes' power, get_server, get_template — nothing else of `cmd.>`), and the plugins' key-value
 * bucket (`plugins_kv`: create, read/write its keys, purge one plugin's keys on uninstall).
 */
const PLUGIN_KV = ['$KV.plugins_kv.>', '$JS.API.STREAM.CREATE.KV_plugins_kv', '$JS.API.STREAM.PURGE.KV_plugins_kv'];
const PLUGIN_API_COMMANDS = ['cmd.nodes.power', 'cmd.nodes.get_server', 'cmd.nodes.get_template'];

/**
 * What a service needs of JetStream, and no more. nats.js 2.29 on nats-server 2.9.10 creates every
 * consumer through the named API: a durable at `$JS.API.CONSUMER.CREATE.<stream>.<durable>.<filter>`
 * and an ordered consumer at `…CREATE.<stream>.<nuid>_<n>[.<filter>]`, so those two shapes are
 * allowed. The legacy unnamed `$JS.API.CONSUMER.CREATE.<stream>` is not: the server takes the
 * consumer's name from the body there, so it would reach any durable. Subject permissions match
 * whole tokens only, so another owner's durable is shut out by name (DURABLE_OWNERS). Only our
 * own streams may be created (ensureStreams, the snapshot bucket; a stream on `cmd.>` would record
 * every command), never updated, purged or deleted. Snapshots are written only for the aggregates
 * the service owns (`$KV.snapshots.<reducer>.<aggregate>.<id>`): a forged one would be loaded as state.
 * Leases (kernel/lease.ts) are written only under the service's own name: `$KV.leases.<service>.>`.
 */
function jetStreamClient(user: string, aggregates: string[]): Pick<SubjectPermissions, 'pub' | 'pubDeny'> {
  const foreign = DURABLE_OWNERS.filter((d) => d.owner !== user);
  return {
    pub: [
      '$JS.API.INFO',
      '$JS.API.STREAM.INFO.*',
      ...[...STREAM_CONFIGS.map((c) => c.name!), `KV_${SNAPSHOT_BUCKET}`, `KV_${LEASE_BUCKET}`].map((name) => `$JS.API.STREAM.CREATE.${name}`),
      '$JS.API.STREAM.NAMES',
      '$JS.API.STREAM.MSG.GET.*',
      '$JS.API.DIRECT.GET.*',
      '$JS.API.DIRECT.GET.*.>',
      '$JS.API.CONSUMER.CREATE.*.*',
      '$JS.API.CONSUMER.CREATE.*.*.>',
      '$JS.API.CONSUMER.DURABLE.CREATE.*.*',
      '$JS.API.CONSUMER.INFO.*.*',
      '$JS.API.CONSUMER.DELETE.*.*',
      '$JS.API.CONSUMER.MSG.NEXT.*.*',
      '$JS.API.CONSUMER.NAMES.*',
      '$JS.API.CONSUMER.LIST.*',
      '$JS.ACK.>',
      '$JS.FC.>',
      ...aggregates.map((aggregate) => `$KV.${SNAPSHOT_BUCKET}.*.${aggregate}.>`),
      // Leases of its own (`<service>.<name>`): another service could otherwise take or release them.
      `$KV.${LEASE_BUCKET}.${user}.>`,
    ],
    pubDeny: foreign.flatMap(({ stream, name }) => [
      `$JS.API.CONSUMER.CREATE.${stream}.${name}`,
      `$JS.API.CONSUMER.CREATE.${stream}.${name}.>`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${name}`,
      `$JS.API.CONSUMER.DELETE.${stream}.${name}`,
      `$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`,
      `$JS.ACK.${stream}.${name}.>`,
    ]),
  };
}

/**
 * The chunk store of the files service (libs/chunks): it publishes `chunk.<sha256>` into the CHUNKS
 * stream, creates that stream, and deletes chunks (one message by sequence, or one subject purged)
 * when it collects garbage.
 */
const CHUNK_STORE_OWNER = 'files';
const CHUNK_STORE = ['chunk.*', ...['CREATE', 'MSG.DELETE', 'PURGE'].map((op) => `$JS.API.STREAM.${op}.${STREAMS.chunks}`)];
/** Chunks are users' file contents: no other service reads them (direct get, message get, a consumer). */
const CHUNK_READS = [
  `$JS.API.DIRECT.GET.${STREAMS.chunks}`,
  `$JS.API.DIRECT.GET.${STREAMS.chunks}.>`,
  `$JS.API.STREAM.MSG.GET.${STREAMS.chunks}`,
  `$JS.API.CONSUMER.CREATE.${STREAMS.chunks}.*`,
  `$JS.API.CONSUMER.CREATE.${STREAMS.chunks}.*.>`,
  `$JS.API.CONSUMER.DURABLE.CREATE.${STREAMS.chunks}.*`,
];

/**
 * The gateway streams uploads and downloads (issue 10): it puts an upload's chunks and reads them
 * back by direct get, and may create the stream when it starts first. It never deletes one, and
 * creates no consumer on CHUNKS; the files service decides which chunks a user may read.
 */
const CHUNK_STREAMER = 'gateway';
const CHUNK_STREAMING = ['chunk.*', `$JS.API.STREAM.CREATE.${STREAMS.chunks}`];
const CHUNK_CONSUMERS = CHUNK_READS.filter((s) => s.includes('CONSUMER'));

/** A service user: its subjects plus the JetStream client rights of jetStreamClient. */
function service(user: string, pub: string[], sub: string[]): SubjectPermissions {
  const aggregates = pub.flatMap((s) => /^evt\.([a-z_]+)\.>$/.exec(s)?.[1] ?? []);
  const js = jetStreamClient(user, aggregates);
  const chunks =
    user === CHUNK_STORE_OWNER
      ? { pub: CHUNK_STORE, pubDeny: [] }
      : user === CHUNK_STREAMER
        ? { pub: CHUNK_STREAMING, pubDeny: CHUNK_CONSUMERS }
        : { pub: [], pubDeny: CHUNK_READS };
  return { pub: [...pub, ...js.pub, ...chunks.pub], pubDeny: [...(js.pubDeny ?? []), ...chunks.pubDeny], sub };
}

/**
 * Services answer commands by publishing into the requester's inbox. The requesters are our own
 * components (each with its own prefix), so services get publish rights on exactly those inboxes
 * instead of NATS response permissions (which would slow their JetStream consumers; see
 * SubjectPermissions.allowResponses).
 */
const REQUESTER_INBOXES = ['gateway', 'auth', 'users', 'nodes', 'metrics', 'files', 'plugins', 'admin'].map((u) => `_INBOX_${u}.>`);

/**
 * Agents ask the auth service to check SFTP logins (issue 11). Their inboxes are `_INBOX_agent-<id>`,
 * which no wildcard matches, so they take replies on `agent.<own id>.reply.<n>` (inside what they
 * may subscribe) and auth may answer there.
 */
const AGENT_REPLIES = ['agent.*.reply.>'];
/**
 * The bytes of streamed server-file transfers (issue 11): the gateway asks the agent directly on
 * `agent.<nodeId>.xfer.<transfer>.<op>` after the nodes service opened the transfer there (the
 * transfer id, 128 random bits drawn by the agent, is the capability). Never the agent's `cmd.`.
 */
const AGENT_TRANSFERS = 'agent.*.xfer.>';
/**
 * What an agent may ask of the services: the SFTP login check and the session re-check, and the
 * backup calls of the files service (BACKUP_AGENT_VERBS: which chunks are missing, send or fetch one,
 * progress, done), nothing else of `cmd.>`. The files service checks each against the backup's node
 * and the session token it gave that agent.
 */
const AGENT_COMMANDS = ['cmd.auth.sftp_login', 'cmd.auth.sftp_access', ...BACKUP_AGENT_VERBS.map((verb) => `cmd.files.${verb}`)];

/** The metrics service's KV bucket of external agents' activity (`metrics_agents`, docs/metrics.md): create it, read and write its keys. */
const AGENT_MONITOR_BUCKET = ['$KV.metrics_agents.>', '$JS.API.STREAM.CREATE.KV_metrics_agents'];

/**
 * The NATS user of each service and what its JWT allows (infra/nats).
 * A service may publish only the events of the aggregates it owns.
 */
export const SERVICE_PERMISSIONS = {
  gateway: service('gateway', ['cmd.>', 'console.*.in', 'evt.integration.>', AGENT_TRANSFERS, ...INBOX], [...INBOX, 'evt.>', 'console.*.out', 'tel.>', 'agent.*.heartbeat', 'agent.*.job.*.out', 'gateway.>']),
  auth: service('auth', ['evt.session.>', 'evt.apikey.>', 'cmd.users.>', 'cmd.auth.>', 'cmd.nodes.get_server', ...AGENT_REPLIES, ...INBOX, ...REQUESTER_INBOXES], ['cmd.auth.>', ...INBOX]),
  users: service('users', ['evt.user.>', 'evt.role.>', 'cmd.auth.>', 'cmd.users.>', ...INBOX, ...REQUESTER_INBOXES], ['cmd.users.>', ...INBOX]),
  nodes: service('nodes', ['evt.node.>', 'evt.server.>', 'evt.template.>', 'evt.job.>', 'agent.*.cmd.>', 'console.*.in', ...INBOX, ...REQUESTER_INBOXES, '_INBOX_bootstrap.>'], ['cmd.nodes.>', 'agent.*.report.>', 'agent.*.heartbeat', 'tel.>', 'console.*.out', ...INBOX]),
  // Reads telemetry through its durable `metrics_telemetry`; owns no aggregate of the fleet (nodes keeps liveness).
  metrics: service('metrics', ['evt.external_agent.>', 'evt.alert.>', ...AGENT_MONITOR_BUCKET, ...INBOX, ...REQUESTER_INBOXES], ['cmd.metrics.>', 'tel.>', ...INBOX]),
  files: service('files', ['evt.file.>', 'evt.backup.>', 'agent.*.cmd.>', ...AGENT_REPLIES, ...INBOX, ...REQUESTER_INBOXES], ['cmd.files.>', ...INBOX]),
  plugins: service('plugins', ['evt.plugin.>', ...PLUGIN_API_COMMANDS, ...PLUGIN_KV, ...INBOX, ...REQUESTER_INBOXES], ['cmd.plugins.>', 'evt.>', ...INBOX]),
  /** An agent that has not enrolled yet: it may only ask to enroll. */
  'agent-bootstrap': {
    pub: ['cmd.nodes.enroll'],
    sub: INBOX,
  },
  /** Tooling: `npm run projections:rebuild`, benchmarks, the dev supervisor. */
  admin: {
    pub: ['>'],
    sub: ['>'],
  },
} satisfies Record<string, SubjectPermissions>;

export type NatsUserName = keyof typeof SERVICE_PERMISSIONS;

/** The NATS user name of one issued integrator credential: unique per credential, like its inbox prefix. */
export function integratorUserName(name: string, credentialId: string): string {
  return `integration-${name}-${credentialId.replace(/-/g, '')}`;
}

/**
 * The durables of one issued credential, `integ_<name>_<credential id>_<n>`. The id (32 hex digits)
 * makes them unique per credential, so two integrators never share one, whatever their names.
 */
export function integratorConsumerNames(name: string, credentialId: string, count = 1): string[] {
  return Array.from({ length: count }, (_, i) => `integ_${name}_${credentialId.replace(/-/g, '')}_${i + 1}`);
}

/**
 * An integrator only reads: it subscribes to its filter (live events) and its own inbox, and uses
 * the durable pull consumers the gateway created for it (INFO, MSG.NEXT, ACK). It cannot create,
 * update or delete any consumer (a push consumer's deliver subject is published by JetStream
 * itself, outside any allow-list) and publishes nothing else.
 */
export function integratorPermissions(consumerNames: string[], filter = 'evt.>'): SubjectPermissions {
  return {
    pub: [
      '$JS.API.INFO',
      `$JS.API.STREAM.INFO.${STREAMS.events}`,
      ...consumerNames.flatMap((c) => [
        `$JS.API.CONSUMER.INFO.${STREAMS.events}.${c}`,
        `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.events}.${c}`,
        `$JS.ACK.${STREAMS.events}.${c}.>`,
      ]),
    ],
    sub: [filter, ...INBOX],
  };
}

/**
 * What an enrolled agent may touch: its own `agent.<id>.>` and `tel.<id>.>`, the console subjects
 * of the servers it runs, reply inboxes, and the SFTP login checks of the auth service (AGENT_COMMANDS). Enforced by the NATS server, not by our code.
 * The nodes service's commands arrive on `agent.<id>.cmd.<verb>`, among them
 * `agent.<id>.cmd.sftp_recheck`: an access change may have ended open SFTP sessions. It names a
 * server only to that server's node; a user's or a role's change goes to every node and names no server.
 */
export function agentPermissions(nodeId: string, serverIds: string[] = []): SubjectPermissions {
  const consoles = serverIds.map((id) => `console.${id}.>`);
  return {
    pub: [`agent.${nodeId}.>`, `tel.${nodeId}.>`, ...consoles, ...AGENT_COMMANDS, ...INBOX],
    sub: [`agent.${nodeId}.>`, ...consoles, ...INBOX],
    // The agent answers the nodes service's requests and consumes no JetStream.
    allowResponses: true,
  };
}
