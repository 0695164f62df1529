import type { SubjectPermissions } from './operator';

/** Subjects every JetStream client needs: the JS API, acks, flow control and reply inboxes. */
const JETSTREAM_CLIENT = ['$JS.API.>', '$JS.ACK.>', '$JS.FC.>', '$KV.>'];
/** Reply inboxes; mintUserCreds narrows this to the user's own `_INBOX_<name>.>` and drops it from pub. */
const INBOX = ['_INBOX.>'];

/**
 * Services answer commands by publishing into the requester's inbox. The requesters are our own
 * components (each with its own prefix), so services get publish rights on exactly those inboxes
 * instead of NATS response permissions (which would slow their JetStream consumers; see
 * SubjectPermissions.allowResponses).
 */
const REQUESTER_INBOXES = ['gateway', 'auth', 'users', 'nodes', 'metrics', 'files', 'plugins', 'admin'].map((u) => `_INBOX_${u}.>`);

/**
 * The NATS user of each service and what its JWT allows (infra/nats).
 * A service may publish only the events of the aggregates it owns.
 */
export const SERVICE_PERMISSIONS = {
  gateway: {
    pub: ['cmd.>', 'console.*.in', 'evt.integration.>', ...JETSTREAM_CLIENT, ...INBOX],
    sub: [...INBOX, 'evt.>', 'console.*.out', 'tel.>', 'agent.*.heartbeat', 'agent.*.job.*.out', 'gateway.>'],
  },
  auth: {
    pub: ['evt.user.>', 'evt.apikey.>', 'cmd.users.>', 'cmd.auth.>', ...JETSTREAM_CLIENT, ...INBOX, ...REQUESTER_INBOXES],
    sub: ['cmd.auth.>', ...INBOX],
  },
  users: {
    pub: ['evt.user.>', 'evt.role.>', 'cmd.auth.>', 'cmd.users.>', ...JETSTREAM_CLIENT, ...INBOX, ...REQUESTER_INBOXES],
    sub: ['cmd.users.>', ...INBOX],
  },
  nodes: {
    pub: ['evt.node.>', 'evt.server.>', 'evt.template.>', 'evt.job.>', 'agent.*.cmd.>', 'console.*.in', ...JETSTREAM_CLIENT, ...INBOX, ...REQUESTER_INBOXES, '_INBOX_bootstrap.>'],
    sub: ['cmd.nodes.>', 'agent.*.report.>', 'agent.*.heartbeat', 'tel.>', 'console.*.out', ...INBOX],
  },
  metrics: {
    pub: ['evt.node.>', ...JETSTREAM_CLIENT, ...INBOX, ...REQUESTER_INBOXES],
    sub: ['cmd.metrics.>', 'tel.>', 'agent.*.heartbeat', ...INBOX],
  },
  files: {
    pub: ['evt.file.>', 'agent.*.cmd.>', ...JETSTREAM_CLIENT, ...INBOX, ...REQUESTER_INBOXES],
    sub: ['cmd.files.>', ...INBOX],
  },
  plugins: {
    pub: ['evt.plugin.>', 'cmd.>', ...JETSTREAM_CLIENT, ...INBOX, ...REQUESTER_INBOXES],
    sub: ['cmd.plugins.>', 'evt.>', ...INBOX],
  },
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

/** Durable consumer names an integrator may own: `integ_<name>` and `integ_<name>_1` … `_7` (NATS wildcards match whole tokens only). */
export function integratorConsumerNames(name: string): string[] {
  return [`integ_${name}`, ...Array.from({ length: 7 }, (_, i) => `integ_${name}_${i + 1}`)];
}

/**
 * An integrator may only read events: subscribe to `evt.>` (or a narrower filter), create consumers
 * on EVENTS whose filter is within it, and pull from and manage only its own durables
 * (integratorConsumerNames). Nothing else — no publish outside the JS API.
 */
export function integratorPermissions(name: string, filter = 'evt.>'): SubjectPermissions {
  const own = integratorConsumerNames(name);
  return {
    pub: [
      '$JS.API.INFO',
      '$JS.API.STREAM.INFO.EVENTS',
      `$JS.API.CONSUMER.CREATE.EVENTS.*.${filter}`,
      ...own.flatMap((c) => [
        `$JS.API.CONSUMER.INFO.EVENTS.${c}`,
        `$JS.API.CONSUMER.DELETE.EVENTS.${c}`,
        `$JS.API.CONSUMER.MSG.NEXT.EVENTS.${c}`,
        `$JS.ACK.EVENTS.${c}.>`,
      ]),
      '$JS.FC.>',
    ],
    sub: [filter, ...INBOX],
  };
}

/**
 * What an enrolled agent may touch: its own `agent.<id>.>` and `tel.<id>.>`, the console subjects
 * of the servers it runs, and reply inboxes. Enforced by the NATS server, not by our code.
 */
export function agentPermissions(nodeId: string, serverIds: string[] = []): SubjectPermissions {
  const consoles = serverIds.map((id) => `console.${id}.>`);
  return {
    pub: [`agent.${nodeId}.>`, `tel.${nodeId}.>`, ...consoles, ...INBOX],
    sub: [`agent.${nodeId}.>`, ...consoles, ...INBOX],
    // The agent answers the nodes service's requests and consumes no JetStream.
    allowResponses: true,
  };
}
