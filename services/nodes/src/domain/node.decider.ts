import { ConflictError, DomainError, event, NotFoundError, type NewEvent, type NodeSpec } from '@encedeus/contracts';
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
});

export function evolveNode(state: NodeState, e: Pick<CloudEvent, 'type' | 'data'>): NodeState {
  const d = e.data as Record<string, any>;
  switch (e.type) {
    case NodeCreated.type:
      return { ...state, exists: true, ...pick(d, ['name', 'memory_mb', 'cpu_percent', 'storage_size', 'storage_mb', 'tags']), enrollmentExpiresAt: d.enrollment_expires_at };
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

export const nodeReducer = { name: 'node-v1', initialState: initialNode, evolve: evolveNode };

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

export function decideEnroll(state: NodeState, id: string, data: { agent_version?: string; hostname?: string }): NewEvent[] {
  if (!state.exists || state.deleted) throw new DomainError('UNAUTHENTICATED', 'The enrollment token is invalid or expired');
  void id;
  return [event(NodeEnrolled, data)];
}
