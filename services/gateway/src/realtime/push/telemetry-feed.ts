import type { NatsConnection, Subscription } from 'nats';
import { FLEET_ROOM, NODES_AUDIENCE, nodeRoom, serverRoom } from '../rooms/rooms';
import { ServerEvents, type NodeUsagePush, type ServerUsagePush } from '../wire';
import type { Audience, Pusher } from './pusher';
import type { ServerOwners } from '../rooms/server-owners';
import { Throttle } from './throttle';

type Sample = Record<string, unknown>;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const isoAt = (v: unknown): string => (typeof v === 'number' ? new Date(v).toISOString() : typeof v === 'string' ? v : new Date().toISOString());

/**
 * Live usage from core NATS: `tel.<nodeId>.usage` (the agent's NodeUsageSample, whose `servers`
 * entries are per-server samples) and `tel.<nodeId>.<serverId>.usage`. Field names of both the
 * agent sample (memory_used/memory_total) and the REST view (memory_usage/memory_limit) are
 * accepted. Each node or server is pushed at most once per interval to each room. A node may
 * publish only under its own `tel.<nodeId>.>` (the broker enforces it), so a server's sample is
 * pushed only when it comes from the node the server is placed on; until the placement is known
 * (looked up in the background) samples are dropped.
 */
export class TelemetryFeed {
  private readonly subs: Subscription[] = [];
  private readonly throttle: Throttle;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly nc: NatsConnection,
    private readonly pusher: Pusher,
    intervalMs: number,
    private readonly owners: ServerOwners,
  ) {
    this.throttle = new Throttle(intervalMs);
  }

  start(): void {
    this.subs.push(this.nc.subscribe('tel.*.usage', { callback: (err, msg) => !err && this.nodeSample(msg.subject.split('.')[1], msg.data) }));
    this.subs.push(this.nc.subscribe('tel.*.*.usage', { callback: (err, msg) => !err && this.serverSample(msg.subject.split('.')[1], msg.subject.split('.')[2], msg.data) }));
  }

  stop(): void {
    for (const sub of this.subs) sub.unsubscribe();
    this.throttle.stop();
  }

  private decode(data: Uint8Array): Sample | undefined {
    try {
      const value = JSON.parse(this.decoder.decode(data));
      return value && typeof value === 'object' ? value : undefined;
    } catch {
      return undefined;
    }
  }

  private nodeSample(nodeId: string, data: Uint8Array): void {
    const s = this.decode(data);
    if (!s) return;
    const at = isoAt(s.at);
    const fleet = this.pusher.size(FLEET_ROOM) > 0;
    const node = this.pusher.size(nodeRoom(nodeId)) > 0;
    if (fleet || node) {
      const push: NodeUsagePush = {
        nodeId,
        cpu_percent: num(s.cpu_percent) ?? 0,
        memory_usage: num(s.memory_used) ?? num(s.memory_usage) ?? 0,
        memory_limit: num(s.memory_total) ?? num(s.memory_limit) ?? 0,
        at,
      };
      if (Array.isArray(s.load)) push.load = s.load.filter((v): v is number => typeof v === 'number');
      for (const key of ['disk_used', 'disk_total', 'net_rx', 'net_tx'] as const) {
        const value = num(s[key]);
        if (value !== undefined) push[key] = value;
      }
      if (fleet) this.throttled(FLEET_ROOM, nodeId, ServerEvents.nodeUsage, push, NODES_AUDIENCE);
      if (node) this.throttled(nodeRoom(nodeId), nodeId, ServerEvents.nodeUsage, push);
    }
    if (Array.isArray(s.servers)) {
      for (const server of s.servers as Sample[]) {
        const id = server?.server_id ?? server?.serverId ?? server?.id;
        if (typeof id === 'string') this.server(nodeId, id, server, at);
      }
    }
  }

  private serverSample(nodeId: string, serverId: string, data: Uint8Array): void {
    const s = this.decode(data);
    if (s) this.server(nodeId, serverId, s, isoAt(s.at));
  }

  private server(nodeId: string, serverId: string, s: Sample, at: string): void {
    const room = serverRoom(serverId);
    if (this.pusher.size(room) === 0 && this.pusher.size(FLEET_ROOM) === 0) return;
    if (this.owners.placedOn(serverId, nodeId) !== true) return;
    const push: ServerUsagePush = {
      serverId,
      cpu_percent: num(s.cpu_percent) ?? 0,
      memory_bytes: num(s.memory_bytes) ?? 0,
      memory_limit_bytes: num(s.memory_limit_bytes) ?? 0,
      disk_bytes: num(s.disk_bytes) ?? 0,
      at: s.at === undefined ? at : isoAt(s.at),
    };
    const uptime = num(s.uptime_ms);
    if (uptime !== undefined) push.uptime_ms = uptime;
    this.throttled(room, serverId, ServerEvents.serverUsage, push);
    this.throttled(FLEET_ROOM, serverId, ServerEvents.serverUsage, push, (p) => this.owners.sees(p, serverId));
  }

  private throttled(room: string, key: string, event: string, payload: unknown, audience?: Audience): void {
    this.throttle.run(`${room}|${key}`, () => this.pusher.push(room, event, payload, audience));
  }
}
