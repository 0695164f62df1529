import { Logger } from '@nestjs/common';
import { AckPolicy, DeliverPolicy, JSONCodec, type ConsumerMessages, type JsMsg } from 'nats';
import {
  AGENT_REPORTS,
  bootReportSchema,
  event,
  NodeSpecReported,
  STREAMS,
  Subjects,
  type ExitFacts,
  type ObservedServer,
  type ServerExitedReport,
  type ServerInstalledReport,
  type ServerReadyReport,
  type ServerStartedReport,
  type SyncReply,
} from '@encedeus/contracts';
import { ensureStreams } from '@encedeus/messaging';
import { agentActor, agentServerSpec, FleetCore } from '../fleet-core';
import { KeyedMutex } from '../common/keyed-mutex';
import { nodeReducer } from '../domain/node.decider';
import { rowToServerState, SCHEMA } from '../projections/fleet.projection';
import type { ServerOps } from '../servers/server-ops';

const codec = JSONCodec<any>();
const CONSUMER = 'nodes_agent_reports';

/**
 * Turns the facts agents report on `agent.<id>.report.<kind>` (stream AGENT_REPORTS) into events.
 * Reports of one node are handled in stream order; different nodes in parallel.
 */
/** Grace after `node.came_online` before syncing, so an agent's own boot sync goes first. */
const SYNC_AFTER_ONLINE_MS = 1500;

export class AgentReports {
  private readonly logger = new Logger('AgentReports');
  private readonly perNode = new KeyedMutex();
  private messages?: ConsumerMessages;
  private stopped = false;
  private loop?: Promise<void>;

  constructor(
    private readonly fleet: FleetCore,
    private readonly servers: ServerOps,
  ) {}

  async start(): Promise<void> {
    const jsm = await this.fleet.nc.jetstreamManager();
    await ensureStreams(jsm, [STREAMS.agentReports, STREAMS.telemetry, STREAMS.console]);
    const info = await jsm.consumers.info(STREAMS.agentReports, CONSUMER).catch(() => undefined);
    if (!info) {
      await jsm.consumers.add(STREAMS.agentReports, {
        durable_name: CONSUMER,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        filter_subject: Subjects.agentReports,
        ack_wait: 120_000_000_000,
        max_ack_pending: 20_000,
      });
    }
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close().catch(() => undefined);
    await this.loop?.catch(() => undefined);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const consumer = await this.fleet.nc.jetstream().consumers.get(STREAMS.agentReports, CONSUMER);
        this.messages = await consumer.consume({ max_messages: 1000, expires: 5000 });
        for await (const m of this.messages) {
          if (this.stopped) break;
          const [, nodeId, , kind] = m.subject.split('.');
          void this.perNode.run(nodeId, () => this.handle(nodeId, kind, m));
        }
      } catch (error) {
        if (this.stopped) break;
        this.logger.warn(`consumer failed, retrying: ${(error as Error).message}`);
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 250));
    }
  }

  private async handle(nodeId: string, kind: string, m: JsMsg): Promise<void> {
    try {
      const data = codec.decode(m.data);
      switch (kind) {
        case AGENT_REPORTS.boot:
          await this.boot(nodeId, data);
          break;
        case AGENT_REPORTS.serverInstalled: {
          const r = data as ServerInstalledReport;
          await this.servers.installed(nodeId, r.server_id, r.success, r.error);
          break;
        }
        case AGENT_REPORTS.serverStarted: {
          const r = data as ServerStartedReport;
          await this.servers.started(nodeId, r.server_id, r.run_id);
          break;
        }
        case AGENT_REPORTS.serverReady: {
          const r = data as ServerReadyReport;
          await this.servers.ready(nodeId, r.server_id, r.run_id);
          break;
        }
        case AGENT_REPORTS.serverExited: {
          const r = data as ServerExitedReport;
          await this.servers.exited(nodeId, r.server_id, r);
          break;
        }
        default:
          break;
      }
    } catch (error) {
      this.logger.warn(`report ${m.subject} failed: ${(error as Error).message}`);
    } finally {
      m.ack();
    }
  }

  /** Boot: record the spec, then push the node's desired state and fresh credentials, and reconcile. */
  private async boot(nodeId: string, data: unknown): Promise<void> {
    const report = bootReportSchema.parse(data);
    const node = await this.fleet.load('node', nodeId, nodeReducer);
    if (!node.state.exists || node.state.deleted) return;
    this.fleet.liveness.beat(nodeId);
    await this.fleet.execute(
      'node',
      nodeId,
      nodeReducer,
      (s) => (JSON.stringify(s.spec) === JSON.stringify(report.spec) ? [] : [event(NodeSpecReported, { spec: report.spec })]),
      { actor: agentActor(nodeId) },
    );
    await this.sync(nodeId);
  }

  /** When each node was last synced (boot or came back online). */
  private readonly syncedAt = new Map<string, number>();

  /**
   * A node that came back online may have missed commands while it was away (an install skipped
   * because it looked offline, a power action refused): sync it, unless a sync ran since (the boot
   * report of an agent that restarted syncs on its own).
   */
  syncAfterComingOnline(nodeId: string, at: number): void {
    setTimeout(() => {
      if ((this.syncedAt.get(nodeId) ?? 0) >= at || !this.fleet.liveness.isOnline(nodeId)) return;
      void this.sync(nodeId).catch((error) => this.logger.warn(`sync of node ${nodeId} after it came back online failed: ${(error as Error).message}`));
    }, SYNC_AFTER_ONLINE_MS).unref();
  }

  /** Sends the node its servers and credentials; reconciles what it observed. */
  async sync(nodeId: string): Promise<void> {
    this.syncedAt.set(nodeId, Date.now());
    const rows: any[] = await this.fleet.db.query(`select * from ${SCHEMA}.servers where node_id = $1`, [nodeId]);
    const servers = rows.map((r) => agentServerSpec(r.id, rowToServerState(r)));
    const creds = await this.fleet.mintAgentCreds(nodeId);
    const versions = new Map<string, number>(rows.map((r) => [r.id, r.version]));
    const reply = await this.fleet.agents.request<SyncReply>(nodeId, 'sync', { creds, servers }, 120_000);
    await Promise.all(reply.servers.map((o) => this.servers.observed(nodeId, o as ObservedServer & { exit?: ExitFacts }, versions.get(o.id) ?? 0)));
  }
}
