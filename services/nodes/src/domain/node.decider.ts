import { ConflictError, DomainError, event, NotFoundError, parseSizeMb, type EventData, type NewEvent, type NodeSpec, type UpdateNode } from '@encedeus/contracts';
import type { Decider } from '@encedeus/messaging';
import {
  NodeCameOnline,
  NodeCreated,
  NodeDeleted,
  NodeDrained,
  NodeEnrolled,
  NodeEnrollmentIssued,
  NodeSpecReported,
  NodeUpdated,
  NodeWentOffline,
} from '@encedeus/contracts';
import type { CloudEvent } from '@encedeus/contracts';

/** The node aggregate, folded from `evt.node.<id>`. */
export interface NodeState {
  exists: boolean;
  deleted: boolean;
  name: string;
  memory_mb: number;
  cpu_percent: number;
  storage_size: string | number;
  storage_mb: number;
  tags: string[];
  draining: boolean;
  enrolled: boolean;
  online: boolean;
  spec: NodeSpec | null;
  enrollmentExpiresAt: string | null;
  /** When node.created was recorded. */
  createdAt: string | null;
}

export const initialNode = (): NodeState => ({
  exists: false,
  deleted: false,
  name: '',
  memory_mb: 0,
  cpu_percent: 0,
  storage_size: 0,
  storage_mb: 0,
  tags: [],
  draining: false,
  enrolled: false,
  online: false,
  spec: null,
  enrollmentExpiresAt: null,
  createdAt: null,
});

export function evolveNode(state: NodeState, e: Pick<CloudEvent, 'type' | 'data'> & { time?: string }): NodeState {
  const d = e.data as Record<string, any>;
  switch (e.type) {
    case NodeCreated.type:
      return {
        ...state,
        exists: true,
        ...pick(d, ['name', 'memory_mb', 'cpu_percent', 'storage_size', 'storage_mb', 'tags']),
        enrollmentExpiresAt: d.enrollment_expires_at,
        createdAt: e.time ?? null,
      };
    case NodeUpdated.type:
      return { ...state, ...stripUndefined(d) };
    case NodeDeleted.type:
      return { ...state, deleted: true, online: false };
    case NodeEnrollmentIssued.type:
      return { ...state, enrollmentExpiresAt: d.enrollment_expires_at };
    case NodeEnrolled.type:
      return { ...state, enrolled: true, enrollmentExpiresAt: null };
    case NodeDrained.type:
      return { ...state, draining: true };
    case NodeCameOnline.type:
      return { ...state, online: true };
    case NodeWentOffline.type:
      return { ...state, online: false };
    case NodeSpecReported.type:
      return { ...state, spec: d.spec };
    default:
      return state;
  }
}


function pick(d: Record<string, any>, keys: string[]) {
  return Object.fromEntries(keys.filter((k) => d[k] !== undefined).map((k) => [k, d[k]]));
}
function stripUndefined(d: Record<string, any>) {
  return Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined));
}

export function assertLive(state: NodeState, id: string): void {
  if (!state.exists || state.deleted) throw new NotFoundError('Node', id);
}

/** `node.went_offline` unless already offline. */
export function decideWentOffline(state: NodeState, lastSeenAt: string | null, missed: number): NewEvent[] {
  if (!state.exists || state.deleted || !state.online) return [];
  return [event(NodeWentOffline, { last_seen_at: lastSeenAt, missed })];
}

/** `node.came_online` unless already online; heartbeats of deleted or never-enrolled nodes change nothing. */
export function decideCameOnline(state: NodeState, at: string): NewEvent[] {
  if (!state.exists || state.deleted || state.online) return [];
  return [event(NodeCameOnline, { at })];
}

export function decideDelete(state: NodeState, id: string, liveServers: number): NewEvent[] {
  assertLive(state, id);
  if (liveServers > 0) throw new ConflictError(`Node ${id} still has ${liveServers} server(s); delete or move them first`, { servers: liveServers });
  return [event(NodeDeleted, {})];
}

export function decideDrain(state: NodeState, id: string): NewEvent[] {
  assertLive(state, id);
  return state.draining ? [] : [event(NodeDrained, {})];
}

export function decideEnroll(state: NodeState, data: { agent_version?: string; hostname?: string }): NewEvent[] {
  if (!state.exists || state.deleted) throw new DomainError('UNAUTHENTICATED', 'The enrollment token is invalid or expired');
  return [event(NodeEnrolled, data)];
}

/** Only the changed fields of a PATCH; a new storage_size brings its storage_mb. */
export function decideUpdate(state: NodeState, id: string, patch: UpdateNode): NewEvent[] {
  assertLive(state, id);
  const changed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value !== undefined && JSON.stringify((state as unknown as Record<string, unknown>)[key]) !== JSON.stringify(value)) changed[key] = value;
  }
  if (changed.storage_size !== undefined) changed.storage_mb = parseSizeMb(changed.storage_size as string);
  return Object.keys(changed).length ? [event(NodeUpdated, changed)] : [];
}

export type NodeCommand =
  | { type: 'create'; data: EventData<typeof NodeCreated> }
  | { type: 'update'; id: string; patch: UpdateNode }
  | { type: 'issue_enrollment'; id: string; expiresAt: string }
  | { type: 'drain'; id: string }
  /** `liveServers`: servers still placed on the node (the handler counts them). */
  | { type: 'delete'; id: string; liveServers: number }
  | { type: 'enroll'; agent_version?: string; hostname?: string }
  | { type: 'came_online'; at: string }
  | { type: 'went_offline'; lastSeenAt: string | null; missed: number }
  | { type: 'report_spec'; spec: NodeSpec };

/** The node decider (see NodeCommand); pure, the time comes in the command. */
export const nodeDecider: Decider<NodeState, NodeCommand> = {
  name: 'node-v2',
  initialState: initialNode,
  evolve: evolveNode,
  decide(cmd: NodeCommand, state: NodeState): NewEvent[] {
    switch (cmd.type) {
      case 'create':
        return state.exists ? [] : [event(NodeCreated, cmd.data)];
      case 'update':
        return decideUpdate(state, cmd.id, cmd.patch);
      case 'issue_enrollment':
        assertLive(state, cmd.id);
        return [event(NodeEnrollmentIssued, { enrollment_expires_at: cmd.expiresAt })];
      case 'drain':
        return decideDrain(state, cmd.id);
      case 'delete':
        return decideDelete(state, cmd.id, cmd.liveServers);
      case 'enroll':
        return decideEnroll(state, { agent_version: cmd.agent_version, hostname: cmd.hostname });
      case 'came_online':
        return decideCameOnline(state, cmd.at);
      case 'went_offline':
        return decideWentOffline(state, cmd.lastSeenAt, cmd.missed);
      case 'report_spec':
        if (!state.exists || state.deleted || JSON.stringify(state.spec) === JSON.stringify(cmd.spec)) return [];
        return [event(NodeSpecReported, { spec: cmd.spec })];
    }
  },
};
