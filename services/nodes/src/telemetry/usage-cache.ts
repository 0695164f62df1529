import { JSONCodec, type NatsConnection, type Subscription } from 'nats';
import type { NodeUsageSample, ServerUsage } from '@encedeus/contracts';

const codec = JSONCodec<NodeUsageSample>();

/**
 * Latest usage per server for server views (`usage`), from `tel.*.usage` (core subscription). Node
 * usage and every history are the metrics service's (issue 12). Every instance of the nodes service keeps its own.
 * A server's sample is kept with the node that sent it and read back only for the node the server
 * is placed on: a node may publish only under its own `tel.<nodeId>.>`, so what it says about
 * servers of other nodes is never shown.
 */
export class UsageCache {
  /** Keyed by `<nodeId>/<serverId>`: a forged sample cannot overwrite the genuine one either. */
  private readonly servers = new Map<string, ServerUsage>();
  private sub?: Subscription;

  constructor(private readonly nc: NatsConnection) {}

  start(): void {
    this.sub = this.nc.subscribe('tel.*.usage', {
      callback: (err, msg) => {
        if (err) return;
        try {
          this.record(msg.subject.split('.')[1], codec.decode(msg.data));
        } catch {
          // A malformed sample is dropped; the next one replaces it.
        }
      },
    });
  }

  stop(): void {
    this.sub?.unsubscribe();
  }

  record(nodeId: string, s: NodeUsageSample): void {
    const at = new Date(s.at).toISOString();
    for (const srv of s.servers ?? []) {
      this.servers.set(serverKey(nodeId, srv.server_id), {
        cpu_percent: srv.cpu_percent,
        memory_bytes: srv.memory_bytes,
        memory_limit_bytes: srv.memory_limit_bytes,
        disk_bytes: srv.disk_bytes,
        uptime_ms: srv.uptime_ms,
        at,
      });
    }
  }

  /** The latest sample of a server sent by `nodeId`, the node it is placed on. */
  server(nodeId: string, serverId: string): ServerUsage | undefined {
    return this.servers.get(serverKey(nodeId, serverId));
  }

  forgetServer(nodeId: string, serverId: string): void {
    this.servers.delete(serverKey(nodeId, serverId));
  }
}

const serverKey = (nodeId: string, serverId: string) => `${nodeId}/${serverId}`;
