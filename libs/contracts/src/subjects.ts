/**
 * Every NATS subject Encedeus uses is built here and nowhere else (DESIGN.md §3).
 * Tokens are validated so an id can never smuggle a `.`, `*` or `>` into a subject.
 */
const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Rejects a subject token that would change the subject's shape. */
export function subjectToken(value: string): string {
  if (!TOKEN.test(value)) throw new Error(`contracts/subjects: invalid subject token "${value}"`);
  return value;
}

export const SERVICES = ['gateway', 'auth', 'users', 'nodes', 'metrics', 'files', 'plugins'] as const;
export type ServiceName = (typeof SERVICES)[number];

export const AGGREGATES = ['user', 'role', 'apikey', 'session', 'node', 'server', 'template', 'job', 'file', 'backup', 'plugin', 'integration', 'external_agent', 'alert'] as const;
export type AggregateName = (typeof AGGREGATES)[number];

export const STREAMS = {
  /** Domain history, the source of truth. */
  events: 'EVENTS',
  /** State facts reported by agents (started, exited, spec). */
  agentReports: 'AGENT_REPORTS',
  /** Usage samples, limited by age. */
  telemetry: 'TELEMETRY',
  /** Console scrollback, last N lines per server. */
  console: 'CONSOLE',
  /** Content-addressed file chunks, one subject per SHA-256 (`chunk.<hash>`, libs/chunks). */
  chunks: 'CHUNKS',
} as const;

export const Subjects = {
  /** `cmd.<service>.<verb>`: request/reply, queue group per service. */
  command: (service: ServiceName, verb: string) => `cmd.${service}.${subjectToken(verb)}`,
  /** `cmd.<service>.health`: every service answers it. */
  health: (service: ServiceName) => `cmd.${service}.health`,
  /** `evt.<aggregate>.<id>`: one subject per aggregate instance; the event type lives in the payload. */
  event: (aggregate: AggregateName, id: string) => `evt.${aggregate}.${subjectToken(id)}`,
  /** Every event of one aggregate type. */
  eventsOf: (aggregate: AggregateName) => `evt.${aggregate}.>`,
  allEvents: 'evt.>',
  /** `agent.<nodeId>.cmd.<verb>`: nodes service → that agent only; a verb may have several tokens (`fs.list`). */
  agentCommand: (nodeId: string, verb: string) => `agent.${subjectToken(nodeId)}.cmd.${verb.split('.').map(subjectToken).join('.')}`,
  /** `agent.<nodeId>.report.<kind>`: agent → nodes service, stream AGENT_REPORTS. */
  agentReport: (nodeId: string, kind: string) => `agent.${subjectToken(nodeId)}.report.${subjectToken(kind)}`,
  agentReports: 'agent.*.report.>',
  /**
   * `agent.<nodeId>.reply.<id>`: where a service answers an agent's own request (SFTP login checks).
   * Agents' inboxes (`_INBOX_agent-<id>`) cannot be matched by one wildcard; these can (`agent.*.reply.>`).
   */
  agentReply: (nodeId: string, id: string) => `agent.${subjectToken(nodeId)}.reply.${subjectToken(id)}`,
  agentReplies: 'agent.*.reply.>',
  /** `agent.<nodeId>.heartbeat`: core NATS liveness. */
  agentHeartbeat: (nodeId: string) => `agent.${subjectToken(nodeId)}.heartbeat`,
  agentHeartbeats: 'agent.*.heartbeat',
  /** Everything an agent may touch under its own id. */
  agentScope: (nodeId: string) => `agent.${subjectToken(nodeId)}.>`,
  /** `tel.<nodeId>.usage`: node usage samples. */
  nodeUsage: (nodeId: string) => `tel.${subjectToken(nodeId)}.usage`,
  /** `tel.<nodeId>.<serverId>.usage`: per-server usage samples. */
  serverUsage: (nodeId: string, serverId: string) => `tel.${subjectToken(nodeId)}.${subjectToken(serverId)}.usage`,
  telemetryScope: (nodeId: string) => `tel.${subjectToken(nodeId)}.>`,
  allTelemetry: 'tel.>',
  /** `console.<serverId>.out`: console output lines. */
  consoleOut: (serverId: string) => `console.${subjectToken(serverId)}.out`,
  /** `console.<serverId>.in`: console input, published after the gateway checked `servers.console`. */
  consoleIn: (serverId: string) => `console.${subjectToken(serverId)}.in`,
  consoleScope: (serverId: string) => `console.${subjectToken(serverId)}.>`,
  allConsole: 'console.>',
  /** `agent.<nodeId>.job.<jobId>.out`: live output lines of a job (core NATS, not stored). */
  jobOutput: (nodeId: string, jobId: string) => `agent.${subjectToken(nodeId)}.job.${subjectToken(jobId)}.out`,
  allJobOutput: 'agent.*.job.*.out',
  /** Enrollment request of an agent holding only the bootstrap user. */
  enroll: 'cmd.nodes.enroll',
} as const;
