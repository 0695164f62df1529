/**
 * Generates docs/asyncapi.yaml (AsyncAPI 2.6) from libs/contracts, so the NATS contract is written
 * once (DESIGN.md §10): event payloads come from the zod schemas of `eventTypes()` through zod 4's
 * `z.toJSONSchema()`, subjects and stream limits from `Subjects`/`STREAMS`/`STREAM_CONFIGS`, who may
 * publish or subscribe from the NATS allow-lists of `SERVICE_PERMISSIONS`, and the command verbs
 * from the contract's verb maps plus the `@MessagePattern(Subjects.command(...))` handlers in
 * services/.
 *
 *   npx ts-node -r tsconfig-paths/register --transpile-only docs/tools/generate-asyncapi.ts          # write
 *   npx ts-node -r tsconfig-paths/register --transpile-only docs/tools/generate-asyncapi.ts --check  # exit 1 if stale
 *
 * The agent-protocol payloads are TypeScript interfaces, not zod schemas; their JSON Schemas are
 * transcribed below (AGENT_SCHEMAS) and name the interface they mirror.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { z } from 'zod';
import {
  sftpChangeReportSchema,
  AGENT_REPORTS,
  AGENT_VERBS,
  AGGREGATES,
  aggregateOfEventType,
  AuthVerbs,
  bootReportSchema,
  cloudEventSchema,
  enrollSchema,
  ERROR_CODES,
  EVENT_HEADERS,
  eventTypes,
  SERVER_FILE_ARGS,
  SERVER_FILE_TRANSFER,
  SERVER_FILE_VERBS,
  SERVICES,
  STREAMS,
  Subjects,
  UsersVerbs,
} from '@encedeus/contracts';
// Imported by path, not through @encedeus/messaging, so the generator does not load Nest or TypeORM.
import { SNAPSHOT_BUCKET, STREAM_CONFIGS } from '../../libs/messaging/src/streams';
import { agentPermissions, integratorPermissions, SERVICE_PERMISSIONS } from '../../libs/messaging/src/nats-auth/service-permissions';

const ROOT = resolve(__dirname, '..', '..');
const OUT = join(ROOT, 'docs', 'asyncapi.yaml');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

// ---------------------------------------------------------------- zod → JSON Schema (draft-07)

/** JSON Schema of a zod schema as AsyncAPI 2.6 accepts it (draft-07, no `$schema`). */
function jsonSchema(schema: z.ZodType): Obj {
  const out = z.toJSONSchema(schema, {
    target: 'draft-7',
    // `input`: plain z.object()s do not get `additionalProperties: false`. Events are versioned by
    // adding fields, so a consumer must accept fields it does not know yet.
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const s = ctx.jsonSchema as Record<string, unknown>;
      // zod's uuid regex adds nothing to `format: uuid` for readers of the document.
      if (s.format === 'uuid') delete s.pattern;
      if (s.maximum === Number.MAX_SAFE_INTEGER) delete s.maximum;
      if (s.minimum === Number.MIN_SAFE_INTEGER) delete s.minimum;
    },
  }) as Obj;
  delete out.$schema;
  return out;
}

const pascal = (type: string) =>
  type
    .split(/[._]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

// ---------------------------------------------------------------- NATS allow-lists per channel

/** True when two NATS subject patterns can match a common subject. */
function intersects(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === '>' || y[i] === '>') return x[i] !== undefined && y[i] !== undefined;
    if (x[i] === undefined || y[i] === undefined) return false;
    if (x[i] === '*' || y[i] === '*') continue;
    if (x[i] !== y[i]) return false;
  }
  return true;
}

/** The channel name with each `{param}` as `*`. */
const wildcard = (channel: string) => channel.replace(/\{[^}]+\}/g, '*');

/** Which NATS users may publish / subscribe on a channel, with the allow-list entries that grant it. */
function allowed(channel: string): Obj {
  const subject = wildcard(channel);
  const users: Record<string, { pub: string[]; sub: string[] }> = {
    ...(SERVICE_PERMISSIONS as Record<string, { pub: string[]; sub: string[] }>),
    'agent (its own <nodeId> and servers)': agentPermissions('{nodeId}', ['{serverId}']),
    'integrator (read-only, minted by the gateway)': integratorPermissions(['integ_<name>_<credential id>_<n>']),
  };
  const pick = (side: 'pub' | 'sub') => {
    const result: Obj = {};
    for (const [user, perms] of Object.entries(users)) {
      const grants = perms[side].filter((p) => intersects(p.replace(/\{\w+\}/g, '*'), subject));
      if (grants.length > 0) result[user] = grants;
    }
    return result;
  };
  return { publish: pick('pub'), subscribe: pick('sub') };
}

// ---------------------------------------------------------------- streams

const NS_PER_S = 1_000_000_000;
function duration(ns: number | undefined): string {
  if (!ns) return 'none';
  const s = ns / NS_PER_S;
  if (s % 86_400 === 0) return `${s / 86_400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

function streamInfo(name: string): Obj {
  const c = STREAM_CONFIGS.find((s) => s.name === name);
  if (!c) throw new Error(`docs/tools: stream ${name} is not in STREAM_CONFIGS`);
  const info: Obj = {
    name,
    subjects: (c.subjects ?? []) as string[],
    storage: String(c.storage ?? 'file'),
    retention: String(c.retention ?? 'limits'),
    maxAge: duration(c.max_age),
  };
  if (c.max_msgs_per_subject) info.maxMsgsPerSubject = c.max_msgs_per_subject;
  if (c.max_msgs !== undefined) info.maxMsgs = c.max_msgs;
  if (c.discard) info.discard = String(c.discard);
  if (c.duplicate_window) info.duplicateWindow = duration(c.duplicate_window);
  if (c.allow_direct) info.allowDirect = true;
  return info;
}

function streamSentence(name: string): string {
  const i = streamInfo(name);
  const parts = [`stored in JetStream stream ${name} (subjects ${(i.subjects as string[]).join(', ')}; ${i.storage} storage`];
  parts.push(i.maxAge === 'none' ? 'no expiry' : `max age ${i.maxAge}`);
  if (i.maxMsgsPerSubject) parts.push(`at most ${i.maxMsgsPerSubject} messages per subject, oldest discarded`);
  if (i.duplicateWindow) parts.push(`Nats-Msg-Id de-duplication window ${i.duplicateWindow}`);
  return parts.join(', ') + ').';
}

// ---------------------------------------------------------------- command verbs

/** Verbs each service answers: its `@MessagePattern(Subjects.command(...))` handlers in services/. */
function handledVerbs(): Record<string, string[]> {
  const maps: Record<string, Record<string, string>> = { AuthVerbs, UsersVerbs, AGENT_VERBS };
  const verbs: Record<string, Set<string>> = {};
  const add = (service: string, verb: string) => (verbs[service] ??= new Set()).add(verb);
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : /\.ts$/.test(name) && !/\.spec\.ts$/.test(name) ? [path] : [];
    });
  const servicesDir = join(ROOT, 'services');
  const files = existsSync(servicesDir) ? walk(servicesDir) : [];
  const pattern = /@MessagePattern\(\s*Subjects\.command\(\s*'([a-z]+)'\s*,\s*(?:'([a-z0-9_-]+)'|(\w+)\.(\w+))\s*\)/g;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(pattern)) {
      const verb = m[2] ?? maps[m[3]]?.[m[4]];
      if (verb) add(m[1], verb);
    }
    if (/healthControllerFor\(\s*'([a-z]+)'/.test(text)) add(/healthControllerFor\(\s*'([a-z]+)'/.exec(text)![1], 'health');
  }
  // The contract's own verb maps, in case a handler is not written yet.
  for (const verb of Object.values(AuthVerbs)) add('auth', verb);
  for (const verb of Object.values(UsersVerbs)) add('users', verb);
  for (const service of Object.keys(verbs)) if (verbs[service].size > 0) add(service, 'health');
  return Object.fromEntries(Object.entries(verbs).sort(([a], [b]) => a.localeCompare(b)).map(([s, v]) => [s, [...v].sort()]));
}

// ---------------------------------------------------------------- hand-transcribed agent schemas

const int = { type: 'integer' } as const;
const num = { type: 'number' } as const;
const str = { type: 'string' } as const;
const epochMs: Obj = { type: 'number', description: 'Agent clock, milliseconds since the epoch' };
const obj = (properties: Obj, required: string[], description: string): Obj => ({ type: 'object', description, properties, required });

const AGENT_SCHEMAS: Record<string, Obj> = {
  AgentReply: {
    description: 'Reply of an agent command (AgentReply in libs/contracts/src/fleet/agent-protocol.ts).',
    oneOf: [
      obj({ ok: { type: 'boolean', const: true }, data: {} }, ['ok', 'data'], 'Success'),
      obj({ ok: { type: 'boolean', const: false }, error: { $ref: '#/components/schemas/ErrorBody' } }, ['ok', 'error'], 'Failure'),
    ],
  },
  Heartbeat: obj(
    { at: epochMs, seq: int, interval_ms: { ...int, description: 'Heartbeat period; the node is declared offline after three missed' }, version: str },
    ['at', 'seq', 'interval_ms', 'version'],
    'Heartbeat in libs/contracts/src/fleet/agent-protocol.ts',
  ),
  ServerUsageSample: obj(
    { server_id: str, cpu_percent: num, memory_bytes: num, memory_limit_bytes: num, disk_bytes: num, uptime_ms: num },
    ['server_id', 'cpu_percent', 'memory_bytes', 'memory_limit_bytes', 'disk_bytes', 'uptime_ms'],
    'ServerUsageSample in libs/contracts/src/fleet/agent-protocol.ts',
  ),
  NodeUsageSample: obj(
    {
      node_id: str,
      at: epochMs,
      cpu_percent: num,
      load: { type: 'array', items: num },
      memory_used: num,
      memory_total: num,
      disk_used: num,
      disk_total: num,
      net_rx: num,
      net_tx: num,
      servers: { type: 'array', items: { $ref: '#/components/schemas/ServerUsageSample' } },
    },
    ['node_id', 'at', 'cpu_percent', 'load', 'memory_used', 'memory_total', 'disk_used', 'disk_total', 'net_rx', 'net_tx', 'servers'],
    'NodeUsageSample in libs/contracts/src/fleet/agent-protocol.ts',
  ),
  ConsoleLine: obj(
    { line: str, stream: { type: 'string', enum: ['stdout', 'stderr', 'system'] }, at: epochMs },
    ['line', 'stream', 'at'],
    'ConsoleLine in libs/contracts/src/fleet/agent-protocol.ts',
  ),
  ServerInstalledReport: obj({ server_id: str, success: { type: 'boolean' }, error: str, at: epochMs }, ['server_id', 'success', 'at'], 'ServerInstalledReport'),
  ServerStartedReport: obj({ server_id: str, run_id: str, at: epochMs }, ['server_id', 'run_id', 'at'], 'ServerStartedReport'),
  ServerReadyReport: obj({ server_id: str, run_id: str, at: epochMs }, ['server_id', 'run_id', 'at'], 'ServerReadyReport'),
  ServerExitedReport: obj(
    {
      server_id: str,
      run_id: { type: ['string', 'null'] },
      code: { type: ['integer', 'null'] },
      signal: { type: ['string', 'null'] },
      expected: { type: 'boolean', description: 'True when the exit was asked for (stop, kill, restart)' },
      reason: str,
      at: epochMs,
    },
    ['server_id', 'run_id', 'code', 'signal', 'expected', 'at'],
    'ServerExitedReport (ExitFacts + server_id, run_id, at)',
  ),
  SftpChangeReport: { ...z.toJSONSchema(sftpChangeReportSchema, { io: 'input', unrepresentable: 'any' }), description: 'SftpChangeReport: a change made over SFTP and by whom (recorded as server.files_changed)' } as Obj,
};

const REPORT_SCHEMAS: Record<string, string> = {
  [AGENT_REPORTS.boot]: 'BootReport',
  [AGENT_REPORTS.serverInstalled]: 'ServerInstalledReport',
  [AGENT_REPORTS.serverStarted]: 'ServerStartedReport',
  [AGENT_REPORTS.serverReady]: 'ServerReadyReport',
  [AGENT_REPORTS.serverExited]: 'ServerExitedReport',
  [AGENT_REPORTS.sftpChange]: 'SftpChangeReport',
};

// ---------------------------------------------------------------- the document

const ref = (kind: 'schemas' | 'messages' | 'parameters', name: string): Obj => ({ $ref: `#/components/${kind}/${name}` });

function build(): Obj {
  const events = eventTypes();
  const verbs = handledVerbs();
  const messages: Obj = {};
  const schemas: Obj = {};

  // Envelope, errors, Nest's wire format.
  schemas.CloudEvent = { ...jsonSchema(cloudEventSchema), description: 'CloudEvents 1.0 envelope of every message on evt.> (libs/contracts/src/envelope.ts).' };
  schemas.ErrorBody = {
    type: 'object',
    description: 'Wire shape of every error: REST bodies, NATS replies, socket.io failures (libs/contracts/src/errors.ts). A published code never changes.',
    properties: {
      error: { type: 'string', description: 'A sentence for humans' },
      code: { type: 'string', description: 'Machine code; known codes are listed in `x-known-codes`.', examples: ['NOT_FOUND', 'WRONG_EXPECTED_REVISION'] },
      details: { description: 'Optional structured details, e.g. `{ fields: [{ path, message }] }` for VALIDATION_FAILED' },
    },
    required: ['error', 'code'],
    'x-known-codes': [...ERROR_CODES],
  };
  schemas.CommandRequest = {
    type: 'object',
    description: "Request packet of @nestjs/microservices' NATS transport.",
    properties: {
      pattern: { type: 'string', description: 'The subject itself, e.g. `cmd.users.get`' },
      data: { description: 'The command; its schema is the command schema of libs/contracts (docs/identity.md, docs/fleet.md)' },
      id: { type: 'string', format: 'uuid', description: 'Request id, echoed in the reply' },
    },
    required: ['pattern', 'data', 'id'],
  };
  schemas.CommandReply = {
    type: 'object',
    description: "Reply packet of @nestjs/microservices' NATS transport: exactly one of `response` or `err`.",
    properties: {
      id: { type: 'string', description: 'The request id' },
      response: { description: 'The handler result (absent on error)' },
      err: { $ref: '#/components/schemas/ErrorBody' },
      isDisposed: { type: 'boolean', const: true },
    },
    required: ['id', 'isDisposed'],
  };
  schemas.CommandHeaders = {
    type: 'object',
    description: 'NATS headers of a command (CommandMeta in libs/messaging/src/command-meta.ts). Who asked and why never travels in the payload.',
    properties: {
      'enc-actor': { type: 'string', description: '`user:<id>`, `apikey:<id>`, `agent:<nodeId>`, `service:<name>` or `system`; a command without it is attributed to `system`' },
      'enc-correlation-id': { type: 'string', description: 'Copied into `correlationid` of every event the command appends' },
      'enc-idempotency-key': { type: 'string', description: 'Retrying with the same key within the 5-minute window appends the events once' },
      'enc-expected-version': { type: 'string', pattern: '^[0-9]+$', description: 'If-Match of the REST request: the aggregate version the caller expects (412 PRECONDITION_FAILED otherwise)' },
      'enc-min-sequence': { type: 'string', pattern: '^[0-9]+$', description: "On a query: the EVENTS sequence of the caller's last write; the replica that answers waits (at most 3 s) until its read model has applied it (read-your-writes across replicas)" },
    },
    required: ['enc-actor'],
  };
  schemas.EventHeaders = {
    type: 'object',
    description: 'NATS headers of every message on evt.> (EVENT_HEADERS in libs/contracts/src/envelope.ts), set by EventStore.append.',
    properties: {
      [EVENT_HEADERS.msgId]: {
        type: 'string',
        description:
          'JetStream de-duplication id: the CloudEvent `id`, or `<subject>:<idempotency key>:<index>` when the command carried an idempotency key',
      },
      [EVENT_HEADERS.type]: { type: 'string', description: 'The CloudEvent `type`, for filtering without parsing the body' },
      [EVENT_HEADERS.actor]: { type: 'string', description: 'The CloudEvent `actor`' },
      [EVENT_HEADERS.correlationId]: { type: 'string', description: 'The CloudEvent `correlationid`, when there is one' },
      [EVENT_HEADERS.expectedLastSubjectSequence]: {
        type: 'string',
        description: 'Optimistic-concurrency precondition the publisher sent (read it as informational, never rely on it)',
      },
    },
    required: [EVENT_HEADERS.msgId, EVENT_HEADERS.type, EVENT_HEADERS.actor],
  };
  schemas.EnrollRequest = { ...jsonSchema(enrollSchema), description: 'enrollSchema in libs/contracts/src/fleet/nodes.ts' };
  schemas.BootReport = { ...jsonSchema(bootReportSchema), description: 'bootReportSchema in libs/contracts/src/fleet/agent-protocol.ts' };
  Object.assign(schemas, AGENT_SCHEMAS);

  // Commands.
  messages.CommandRequest = {
    name: 'CommandRequest',
    title: 'Command (Nest NATS request)',
    contentType: 'application/json',
    headers: ref('schemas', 'CommandHeaders'),
    payload: ref('schemas', 'CommandRequest'),
    correlationId: { description: 'Correlation id of the REST request or caller', location: '$message.header#/enc-correlation-id' },
  };
  messages.CommandReply = {
    name: 'CommandReply',
    title: 'Command reply (Nest NATS reply, sent to the request inbox)',
    contentType: 'application/json',
    payload: ref('schemas', 'CommandReply'),
  };
  messages.EnrollRequest = {
    name: 'EnrollRequest',
    title: 'Agent enrollment (Nest NATS request)',
    contentType: 'application/json',
    payload: {
      allOf: [ref('schemas', 'CommandRequest'), { type: 'object', properties: { pattern: { type: 'string', const: Subjects.enroll }, data: ref('schemas', 'EnrollRequest') } }],
    },
  };

  // Events: one message per declared type.
  const eventRefs: Obj[] = [];
  for (const definition of events) {
    const dataName = `${pascal(definition.type)}Data`;
    schemas[dataName] = { ...jsonSchema(definition.schema), description: `\`data\` of ${definition.type}` };
    messages[definition.type] = {
      name: definition.type,
      title: definition.type,
      summary: definition.description,
      contentType: 'application/json',
      headers: ref('schemas', 'EventHeaders'),
      payload: {
        allOf: [
          ref('schemas', 'CloudEvent'),
          {
            type: 'object',
            properties: {
              type: { type: 'string', const: definition.type },
              subject: { type: 'string', pattern: `^${aggregateOfEventType(definition.type)}/[A-Za-z0-9_-]+$` },
              data: ref('schemas', dataName),
            },
          },
        ],
      },
      correlationId: { description: 'Correlation id of the command that caused the event', location: '$message.payload#/correlationid' },
      'x-aggregate': aggregateOfEventType(definition.type),
    };
    eventRefs.push(ref('messages', definition.type));
  }

  // Agent protocol.
  messages.AgentCommand = {
    name: 'AgentCommand',
    title: 'Agent command (plain JSON request)',
    contentType: 'application/json',
    payload: { type: 'object', description: 'The command of the verb (SyncCommand, PowerCommand, RunJobCommand, … in libs/contracts/src/fleet/agent-protocol.ts; docs/fleet.md)' },
  };
  messages.AgentFileCommand = {
    name: 'AgentFileCommand',
    title: 'Agent file-manager command',
    contentType: 'application/json',
    payload: { type: 'object', required: ['server_id'], properties: { server_id: { type: 'string', format: 'uuid' } }, additionalProperties: true, description: 'server_id plus the arguments of the verb (x-arguments of the channel).' },
  };
  messages.AgentReply = { name: 'AgentReply', title: 'Agent reply', contentType: 'application/json', payload: ref('schemas', 'AgentReply') };
  const reportRefs: Obj[] = [];
  for (const [kind, schema] of Object.entries(REPORT_SCHEMAS)) {
    const name = `AgentReport.${kind}`;
    messages[name] = { name, title: `agent.<nodeId>.report.${kind}`, contentType: 'application/json', payload: ref('schemas', schema) };
    reportRefs.push(ref('messages', name));
  }
  messages.Heartbeat = { name: 'Heartbeat', contentType: 'application/json', payload: ref('schemas', 'Heartbeat') };
  messages.NodeUsage = { name: 'NodeUsage', contentType: 'application/json', payload: ref('schemas', 'NodeUsageSample') };
  messages.ServerUsage = { name: 'ServerUsage', contentType: 'application/json', payload: ref('schemas', 'ServerUsageSample') };
  messages.ConsoleLine = { name: 'ConsoleLine', contentType: 'application/json', payload: ref('schemas', 'ConsoleLine') };
  messages.ConsoleInput = {
    name: 'ConsoleInput',
    title: 'Console input',
    contentType: 'application/json',
    payload: { description: 'One line for the server stdin (docs/fleet.md owns the shape).' },
  };

  const parameters: Obj = {
    service: { description: 'Service name (SERVICES in libs/contracts/src/subjects.ts)', schema: { type: 'string', enum: [...SERVICES] } },
    verb: { description: 'Lower-case snake_case verb; see `x-verbs` of the channel', schema: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' } },
    aggregate: { description: 'Aggregate type (AGGREGATES in libs/contracts/src/subjects.ts)', schema: { type: 'string', enum: [...AGGREGATES] } },
    id: { description: 'Aggregate id (a UUID for users, roles, servers, …); one subject per aggregate instance', schema: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' } },
    nodeId: { description: 'Node id', schema: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' } },
    serverId: { description: 'Server id', schema: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' } },
    agentVerb: { description: 'Agent verb (AGENT_VERBS)', schema: { type: 'string', enum: Object.values(AGENT_VERBS) } },
    reportKind: { description: 'Report kind (AGENT_REPORTS)', schema: { type: 'string', enum: Object.values(AGENT_REPORTS) } },
    fsVerb: { description: 'File-manager verb (SERVER_FILE_VERBS in libs/contracts/src/fleet/server-files.ts)', schema: { type: 'string', enum: [...SERVER_FILE_VERBS] } },
    transfer: { description: 'A transfer id (32 hex digits) the agent drew at fs.open_read / fs.open_write', schema: { type: 'string', pattern: '^[0-9a-f]{32}$' } },
    transferOp: { description: 'read, write or close', schema: { type: 'string', enum: ['read', 'write', 'close'] } },
    replyId: { description: 'A token the agent picks per request (Subjects.agentReply)', schema: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' } },
  };
  const p = (...names: string[]) => Object.fromEntries(names.map((n) => [n, ref('parameters', n)]));

  const channels: Obj = {
    'cmd.{service}.{verb}': {
      description: [
        'Commands and queries: core NATS request/reply in the wire format of Nest\'s NATS transport. Each service subscribes to',
        '`cmd.<service>.>` in queue group `<service>`, so one instance answers. No responders → the caller answers 503',
        'SERVICE_UNAVAILABLE at once; no answer within the timeout (5 s) → 503 too. A typed error comes back as `err` and is',
        'rebuilt on the caller side with the same `code`. Every service answers `cmd.<service>.health`.',
      ].join('\n'),
      parameters: { service: ref('parameters', 'service'), verb: ref('parameters', 'verb') },
      publish: {
        operationId: 'sendCommand',
        summary: 'Send a command or query to a service (reply on the request inbox)',
        message: ref('messages', 'CommandRequest'),
        'x-reply': ref('messages', 'CommandReply'),
      },
      'x-verbs': verbs,
      'x-nats-allow': allowed('cmd.{service}.{verb}'),
    },
    [Subjects.enroll]: {
      description:
        'Agent enrollment: the only subject the `agent-bootstrap` NATS user may publish. The reply carries the node id and the agent\'s own NATS credentials (EnrollReply in libs/contracts/src/fleet/nodes.ts).',
      publish: { operationId: 'enroll', message: ref('messages', 'EnrollRequest'), 'x-reply': ref('messages', 'CommandReply') },
      'x-nats-allow': allowed(Subjects.enroll),
    },
    'evt.{aggregate}.{id}': {
      description: [
        'Domain events: one subject per aggregate instance, the event type is in the payload (`type`) and in header `ce-type`.',
        `Events are ${streamSentence(STREAMS.events)}`,
        'Within one subject events are totally ordered and `aggregateversion` counts 1, 2, 3, … without gaps. The stream sequence',
        '(JetStream) orders all events and is the cursor of the REST feed. Delivery is at-least-once: de-duplicate on the',
        'CloudEvent `id`. A command that produces several events appends them one by one; a crash can leave a prefix of them',
        '(docs/event-store.md). Subscribe with a durable consumer on EVENTS, or core NATS for live-only (docs/integrations.md).',
      ].join('\n'),
      parameters: p('aggregate', 'id'),
      subscribe: { operationId: 'receiveEvent', summary: 'Receive domain events', message: { oneOf: eventRefs } },
      'x-jetstream': streamInfo(STREAMS.events),
      'x-nats-allow': allowed('evt.{aggregate}.{id}'),
    },
    'agent.{nodeId}.cmd.{agentVerb}': {
      description: 'Nodes service → one agent: core NATS request/reply with a plain JSON body (not Nest\'s packet); the reply is `{ ok, data }` or `{ ok: false, error }`.',
      parameters: p('nodeId', 'agentVerb'),
      subscribe: { operationId: 'receiveAgentCommand', summary: 'The agent of nodeId receives a command', message: ref('messages', 'AgentCommand'), 'x-reply': ref('messages', 'AgentReply') },
      'x-nats-allow': allowed('agent.{nodeId}.cmd.{agentVerb}'),
    },
    'agent.{nodeId}.cmd.fs.{fsVerb}': {
      description: [
        'The server file manager (docs/server-files.md): nodes service → the agent running the server, core NATS request/reply',
        'like every agent command. The body is `{ server_id, ...arguments }`; the agent resolves every path in its jail (the',
        'server\'s directory, symlinks out of it never followed) and answers `{ ok, data }` or `{ ok: false, error }`.',
      ].join('\n'),
      parameters: p('nodeId', 'fsVerb'),
      subscribe: { operationId: 'receiveAgentFileCommand', summary: 'The agent of nodeId receives a file-manager command', message: ref('messages', 'AgentFileCommand'), 'x-reply': ref('messages', 'AgentReply') },
      'x-arguments': Object.fromEntries(SERVER_FILE_VERBS.map((verb) => [verb, z.toJSONSchema(SERVER_FILE_ARGS[verb], { io: 'input', unrepresentable: 'any' })])),
      'x-nats-allow': allowed('agent.{nodeId}.cmd.fs.{fsVerb}'),
    },
    'agent.{nodeId}.xfer.{transfer}.{transferOp}': {
      description: [
        'The bytes of a streamed server-file transfer (download, upload, VFS import/export; docs/server-files.md, "Streamed',
        'transfers"): the gateway → the agent directly, core NATS request/reply, after the nodes service opened the transfer with',
        '`fs.open_read`/`fs.open_write` (the transfer id, 32 hex digits the agent drew, is the capability). `read`: body',
        `\`{ offset, length }\` (length ≤ ${SERVER_FILE_TRANSFER.chunkBytes}) → the bytes. \`write\`: body the bytes, header \`${SERVER_FILE_TRANSFER.offsetHeader}\` → empty.`,
        `\`close\` → empty (an uncommitted upload is aborted). An error answer has an empty body and header \`${SERVER_FILE_TRANSFER.errorHeader}\` (ErrorBody JSON).`,
        `At most ${SERVER_FILE_TRANSFER.window} requests of one transfer in flight; a transfer idle for ${SERVER_FILE_TRANSFER.idleMs / 1000} s is closed.`,
      ].join('\n'),
      parameters: p('nodeId', 'transfer', 'transferOp'),
      subscribe: { operationId: 'receiveTransferChunk', summary: 'The agent of nodeId serves a chunk of a transfer' },
      'x-nats-allow': allowed('agent.{nodeId}.xfer.{transfer}.{transferOp}'),
    },
    'agent.{nodeId}.report.{reportKind}': {
      description: `State facts reported by an agent (booted, installed, started, ready, exited), ${streamSentence(STREAMS.agentReports)}`,
      parameters: p('nodeId', 'reportKind'),
      publish: { operationId: 'sendAgentReport', summary: 'An agent reports a fact', message: { oneOf: reportRefs } },
      'x-jetstream': streamInfo(STREAMS.agentReports),
      'x-nats-allow': allowed('agent.{nodeId}.report.{reportKind}'),
    },
    'agent.{nodeId}.reply.{replyId}': {
      description: [
        'Where a service answers a request the agent itself made: the SFTP login checks `cmd.auth.sftp_login` and',
        '`cmd.auth.sftp_access` (docs/server-files.md, "SFTP"). Agents\' inboxes (`_INBOX_agent-<id>`) match no wildcard,',
        'so the auth service may publish on `agent.*.reply.>` instead; the body is Nest\'s reply packet like every `cmd.` reply.',
      ].join('\n'),
      parameters: p('nodeId', 'replyId'),
      subscribe: { operationId: 'receiveAgentReply', summary: 'The agent of nodeId receives the answer to its own request' },
      'x-nats-allow': allowed('agent.{nodeId}.reply.{replyId}'),
    },
    'agent.{nodeId}.heartbeat': {
      description: 'Core NATS liveness (not stored). The node is declared offline (event node.went_offline) after three missed heartbeats.',
      parameters: p('nodeId'),
      publish: { operationId: 'sendHeartbeat', message: ref('messages', 'Heartbeat') },
      'x-nats-allow': allowed('agent.{nodeId}.heartbeat'),
    },
    'tel.{nodeId}.usage': {
      description: `Node usage samples, ${streamSentence(STREAMS.telemetry)} Telemetry is not domain history and never goes to EVENTS.`,
      parameters: p('nodeId'),
      publish: { operationId: 'sendNodeUsage', message: ref('messages', 'NodeUsage') },
      subscribe: { operationId: 'receiveNodeUsage', message: ref('messages', 'NodeUsage') },
      'x-jetstream': streamInfo(STREAMS.telemetry),
      'x-nats-allow': allowed('tel.{nodeId}.usage'),
    },
    'tel.{nodeId}.{serverId}.usage': {
      description: `Per-server usage samples, ${streamSentence(STREAMS.telemetry)}`,
      parameters: p('nodeId', 'serverId'),
      publish: { operationId: 'sendServerUsage', message: ref('messages', 'ServerUsage') },
      subscribe: { operationId: 'receiveServerUsage', message: ref('messages', 'ServerUsage') },
      'x-jetstream': streamInfo(STREAMS.telemetry),
      'x-nats-allow': allowed('tel.{nodeId}.{serverId}.usage'),
    },
    'console.{serverId}.out': {
      description: `Console output, one line per message: core NATS for live readers, and ${streamSentence(STREAMS.console)} That is the scrollback.`,
      parameters: p('serverId'),
      publish: { operationId: 'sendConsoleLine', summary: 'The agent running serverId publishes a line', message: ref('messages', 'ConsoleLine') },
      subscribe: { operationId: 'receiveConsoleLine', summary: 'The gateway relays lines to socket.io rooms', message: ref('messages', 'ConsoleLine') },
      'x-jetstream': streamInfo(STREAMS.console),
      'x-nats-allow': allowed('console.{serverId}.out'),
    },
    'console.{serverId}.in': {
      description: 'Console input (core NATS, not stored), published only after the gateway checked `servers.console`.',
      parameters: p('serverId'),
      publish: { operationId: 'sendConsoleInput', summary: 'Gateway or nodes service sends input', message: ref('messages', 'ConsoleInput') },
      subscribe: { operationId: 'receiveConsoleInput', summary: 'The agent running serverId receives it', message: ref('messages', 'ConsoleInput') },
      'x-nats-allow': allowed('console.{serverId}.in'),
    },
  };

  return {
    asyncapi: '2.6.0',
    id: 'urn:encedeus:nats',
    info: {
      title: 'Encedeus NATS contract',
      version: readPackageVersion(),
      description: [
        'Every subject of the Encedeus bus (libs/contracts). GENERATED by docs/tools/generate-asyncapi.ts — do not edit by hand.',
        '',
        'Operations are written from the point of view of a client connected to NATS: `publish` = the client sends on the',
        'channel, `subscribe` = the client receives. `x-nats-allow` lists, per NATS user, the allow-list entries that let it',
        'publish or subscribe there (libs/messaging/src/nats-auth/service-permissions.ts); everything else is denied by the',
        'server with a permissions violation. JetStream pull consumers receive their messages on `_INBOX.>`, so a service',
        'that projects EVENTS needs no `evt.>` subscribe permission; the allow-lists show core-NATS subscriptions only.',
        '`x-reply` names the reply message of a request/reply operation.',
        '',
        `Aggregate snapshots live in the JetStream KV bucket \`${SNAPSHOT_BUCKET}\` (internal; not part of the contract).`,
        'See docs/event-store.md, docs/integrations.md and docs/security.md.',
      ].join('\n'),
      license: { name: 'MIT' },
    },
    servers: {
      nats: {
        url: '{host}:{port}',
        protocol: 'nats',
        protocolVersion: '2.9',
        description: 'nats-server 2.9 in operator mode with JetStream; connect with a `.creds` file (user JWT + NKey seed).',
        variables: { host: { default: '127.0.0.1' }, port: { default: '4222', description: '4222 in docker-compose and Kubernetes, 4250 for `npm run dev`' } },
        security: [{ natsCreds: [] }],
      },
    },
    defaultContentType: 'application/json',
    channels,
    components: {
      schemas,
      messages,
      parameters,
      securitySchemes: {
        natsCreds: {
          type: 'asymmetricEncryption',
          description:
            'NATS decentralized auth: a user JWT signed by the ENCEDEUS account signing key, proven with the user NKey (a `.creds` file). The JWT carries the publish/subscribe allow-lists.',
        },
      },
    },
    'x-jetstream-streams': STREAM_CONFIGS.map((c) => streamInfo(c.name!)),
  };
}

function readPackageVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

// ---------------------------------------------------------------- a tiny YAML emitter

// Hand-written because the repo has no YAML dependency; the input is plain JSON data, so block
// mappings/sequences plus JSON-quoted strings (valid YAML double-quoted scalars) are enough.
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const YAML_11_WORDS = /^(y|n|yes|no|on|off|true|false|null)$/i;
const key = (k: string) => (PLAIN_KEY.test(k) && !YAML_11_WORDS.test(k) ? k : JSON.stringify(k));

function scalar(value: Json, indent: string): string {
  if (typeof value === 'string') {
    if (value.includes('\n') && !/^\s/.test(value) && !/\s$/.test(value)) {
      return '|-\n' + value.split('\n').map((line) => (line ? indent + '  ' + line : '')).join('\n');
    }
    return JSON.stringify(value);
  }
  return JSON.stringify(value);
}

function yaml(value: Json, indent = ''): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return value
      .map((item) => {
        if (item !== null && typeof item === 'object' && !(Array.isArray(item) ? item.length === 0 : Object.keys(item).length === 0)) {
          const body = yaml(item, indent + '  ');
          return `${indent}- ${body.slice(indent.length + 2)}`;
        }
        return `${indent}- ${item !== null && typeof item === 'object' ? yaml(item) : scalar(item, indent + '  ')}`;
      })
      .join('\n');
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    return entries
      .map(([k, v]) => {
        if (v !== null && typeof v === 'object' && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0)) {
          return `${indent}${key(k)}:\n${yaml(v, Array.isArray(v) ? indent : indent + '  ')}`;
        }
        return `${indent}${key(k)}: ${v !== null && typeof v === 'object' ? yaml(v) : scalar(v, indent)}`;
      })
      .join('\n');
  }
  return scalar(value, indent);
}

function render(): string {
  // JSON round trip drops undefined and checks the document is plain data.
  const doc = JSON.parse(JSON.stringify(build())) as Json;
  return `# GENERATED by docs/tools/generate-asyncapi.ts from libs/contracts — do not edit by hand.\n${yaml(doc)}\n`;
}

function main() {
  const text = render();
  if (process.argv.includes('--check')) {
    const current = existsSync(OUT) ? readFileSync(OUT, 'utf8') : '';
    if (current !== text) {
      console.error(`${relative(process.cwd(), OUT)} is out of date: run docs/tools/generate-asyncapi.ts`);
      process.exit(1);
    }
    console.log(`${relative(process.cwd(), OUT)} is up to date`);
    return;
  }
  writeFileSync(OUT, text);
  console.log(`wrote ${relative(process.cwd(), OUT)} (${eventTypes().length} event types)`);
}

main();
