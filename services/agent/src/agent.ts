import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, credsAuthenticator, Events, JSONCodec, type NatsConnection, type Subscription } from 'nats';
import {
  AGENT_REPORTS,
  Subjects,
  type AgentServerSpec,
  type ConsoleLine,
  type Heartbeat,
  type JobResultReply,
  type PowerCommand,
  type RunJobCommand,
  type SftpRecheckCommand,
  type SyncCommand,
} from '@encedeus/contracts';
import { CommandClient, credsExpiry, inboxPrefixFromCreds } from '@encedeus/messaging';
import type { AgentConfig } from './config';
import type { Driver } from './drivers/driver';
import { ProcessDriver } from './drivers/process/process-driver';
import { runJob } from './jobs/run-job';
import { isolation } from './jobs/job-sandbox';
import { AgentBus, type CommandHandler } from './bus/agent-bus';
import { DiskQuotas } from './files/disk-quota';
import type { FileTransfers } from './files/file-transfers';
import { SftpServer } from './sftp/sftp-server';
import { enroll, readIdentity, secureDataDir, writeIdentity, type AgentIdentity } from './enrollment/identity';
import { UidPool } from './sandbox/uid-pool';
import { ServerManager } from './servers/server-manager';
import { machineSpec, UsageSampler } from './telemetry/machine';
import { AGENT_VERSION } from './version';

const json = JSONCodec<unknown>();
/** How long a credentials reconnect waits for commands in flight to answer. */
const RECONNECT_IDLE_WAIT_MS = 10_000;

type Log = (message: string) => void;

/** An error's message with its causes (`DriverError` wraps the system error that stopped it). */
function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && parts.length < 5; e = (e as { cause?: unknown }).cause) {
    parts.push(e instanceof Error ? e.message : String(e));
    if (!(e instanceof Error)) break;
  }
  return parts.join(': ');
}

/**
 * Skyhook, the node agent: enrolls once, then runs with its own NATS user, reports its spec on
 * every (re)connect, heartbeats, samples usage, runs servers through drivers and jobs in a sandbox.
 */
export class Agent {
  private nc?: NatsConnection;
  private identity!: AgentIdentity;
  private servers!: ServerManager;
  private bus?: AgentBus;
  private sftp?: SftpServer;
  private transfers?: FileTransfers;
  /** The file manager's and the backups' handlers, once loaded (fileCommand). */
  private fileCommands?: Promise<Record<string, CommandHandler>>;
  /** Each server's disk use, counted once and moved by the file manager's, SFTP's and transfers' writes. */
  private quotas!: DiskQuotas;
  /** Bumped after each reconnect made to apply new credentials. */
  private generation = 0;
  private readonly consoleSubs = new Map<string, Subscription>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly jobs = new Map<string, AbortController>();
  /**
   * Jobs cancelled before their run_job arrived (the cancel can overtake it): a later run_job for one
   * of them ends at once as cancelled. Bounded; entries expire after ten minutes.
   */
  private readonly cancelledJobs = new Map<string, number>();
  private readonly jobUids: UidPool;
  private readonly sampler = new UsageSampler();
  private drivers = new Map<string, Driver>();
  private heartbeatSeq = 0;
  /** The expiry of the credentials in use, parsed once per set of credentials (heartbeats read it). */
  private credsExpiryMemo: { creds: string; at: number | undefined } = { creds: '', at: undefined };
  /** Reconnect scheduled onto renewed credentials with unchanged permissions. */
  private renewalReconnect?: NodeJS.Timeout;
  /** Resolves when the nodes service deleted this node and the agent forgot its credentials. */
  readonly revoked: Promise<void>;
  private markRevoked!: () => void;
  /** Set while we reconnect to apply new credentials: that reconnect needs no new sync. */
  private ownReconnectUntil = 0;
  private closed = false;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Log = (m) => console.log(`[agent] ${m}`),
  ) {
    this.revoked = new Promise((resolve) => (this.markRevoked = resolve));
    this.jobUids = new UidPool(config.jobUids);
  }

  get nodeId(): string {
    return this.identity.node_id;
  }

  async start(): Promise<void> {
    await secureDataDir(this.config.dataDir);
    const existing = await readIdentity(this.config.dataDir);
    if (existing) {
      this.identity = existing;
    } else {
      if (!this.config.token) throw new Error('agent: not enrolled yet; pass --token <enrollment token> (or ENCEDEUS_ENROLL_TOKEN)');
      this.identity = await enroll({
        natsUrl: this.config.natsUrl,
        dataDir: this.config.dataDir,
        token: this.config.token,
        gatewayUrl: this.config.gatewayUrl,
        bootstrapCreds: this.config.bootstrapCreds,
        version: AGENT_VERSION,
      });
      this.log(`enrolled as node ${this.identity.node_id}`);
    }
    // An installed agent is told its NATS URL at enrollment (install.sh passes only the gateway and the token).
    if (!this.config.natsUrlGiven && this.identity.nats_url) this.config.natsUrl = this.identity.nats_url;
    this.drivers = await this.detectDrivers();
    this.servers = new ServerManager(this.config.dataDir, this.drivers, {
      line: (id, line, stream) => this.publishLine(id, line, stream),
      ready: (id, runId) => void this.report(AGENT_REPORTS.serverReady, { server_id: id, run_id: runId, at: Date.now() }),
      started: (id, runId) => void this.report(AGENT_REPORTS.serverStarted, { server_id: id, run_id: runId, at: Date.now() }),
      exited: (id, runId, facts, stderrTail) => {
        // An exit nobody asked for is logged with why (the server's last stderr lines): the console is not always watched.
        if (!facts.expected) this.log(`server ${id} exited unexpectedly (code ${facts.code ?? '?'}${facts.signal ? `, ${facts.signal}` : ''}${facts.reason ? `, ${facts.reason}` : ''})${stderrTail.length ? `; last stderr: ${stderrTail.join(' | ')}` : ''}`);
        void this.report(AGENT_REPORTS.serverExited, { server_id: id, run_id: runId, ...facts, at: Date.now() });
      },
      changed: (ids) => this.followConsoles(ids),
    });

    this.nc = await connect({
      servers: this.config.natsUrl,
      name: `encedeus-agent-${this.nodeId}`,
      // Read the current credentials on every (re)connect: they are replaced when the server set changes.
      authenticator: (nonce?: string) => credsAuthenticator(new TextEncoder().encode(this.identity.creds))(nonce),
      // The user name (agent-<nodeId>) and so the inbox prefix stay the same across re-minted creds.
      inboxPrefix: inboxPrefixFromCreds(this.identity.creds),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      reconnectJitter: 250,
      waitOnFirstConnect: true,
      pingInterval: 10_000,
    });
    this.watchStatus(this.nc);
    this.quotas = new DiskQuotas({ limitMb: (id) => this.servers.diskLimitMb(id), dir: (id) => this.servers.serverDir(id) });
    this.bus = new AgentBus(this.nodeId, {
      ping: async () => ({ node_id: this.nodeId, version: AGENT_VERSION, generation: this.generation }),
      sync: (cmd: SyncCommand) => this.sync(cmd),
      credentials: async (cmd: { creds: string }) => {
        const reconnecting = await this.replaceCreds(cmd.creds);
        return { reconnecting, generation: this.generation };
      },
      create_server: (cmd: { server: AgentServerSpec }) => this.servers.create(cmd.server),
      power: async (cmd: PowerCommand) => {
        try {
          return await this.servers.power(cmd);
        } catch (error) {
          // The reply carries the error too, but a start that failed on this machine is worth a line here.
          this.log(`power ${cmd.action} of server ${cmd.server_id} failed: ${describeError(error)}`);
          throw error;
        }
      },
      write: async (cmd: { server_id: string; line: string }) => {
        await this.servers.write(cmd.server_id, cmd.line);
        return {};
      },
      remove_server: async (cmd: { server_id: string }) => {
        await this.servers.remove(cmd.server_id);
        this.quotas.forget(cmd.server_id);
        return {};
      },
      run_job: (cmd: RunJobCommand) => this.runJob(cmd),
      cancel_job: async (cmd: { job_id: string }) => {
        const controller = this.jobs.get(cmd.job_id);
        if (controller) controller.abort();
        else this.rememberCancelled(cmd.job_id);
        return { cancelled: true };
      },
      // Published by the nodes service right after an access change (no answer awaited); without SFTP there is nothing to end.
      sftp_recheck: async (cmd: SftpRecheckCommand) => (this.sftp ? this.sftp.recheckNow(cmd) : { sessions: 0 }),
      // The node was deleted: forget the credentials (after this reply is out) and stop.
      revoke: async () => {
        setTimeout(() => void this.forgetIdentity(), 0);
        return { revoked: true };
      },
    }, (verb) => this.fileCommand(verb));
    this.bus.listen(this.nc);
    await this.nc.flush();
    await this.startSftp(this.nc);
    this.startTimers();
    await this.reportBoot();
    this.log(`connected to ${this.config.natsUrl} as node ${this.nodeId}; drivers: ${[...this.drivers.keys()].join(', ')}`);
  }

  /**
   * The file manager's verbs (fs.list, fs.write, …, jailed to the server's directory), the backups'
   * (backup.create, backup.restore) and the streamed transfers they open
   * (agent.<nodeId>.xfer.<transfer>.<op>), loaded at the first command that is not one of the bus's
   * own: an agent nobody browses does not carry them nor zod (issue 14, the agent's RSS).
   */
  private fileCommand(verb: string): Promise<CommandHandler | undefined> {
    this.fileCommands ??= (async () => {
      const [{ FileTransfers }, { fsCommandHandlers }, { backupCommandHandlers }] = await Promise.all([
        import('./files/file-transfers'),
        import('./files/fs-commands'),
        import('./files/server-backups'),
      ]);
      const transfers = new FileTransfers(this.nodeId);
      const serverDir = (id: string) => (this.servers.ids().includes(id) ? this.servers.serverDir(id) : undefined);
      const handlers = {
        ...fsCommandHandlers(serverDir, { quotas: this.quotas, transfers }),
        ...backupCommandHandlers({
          nodeId: () => this.nodeId,
          nc: () => this.nc,
          serverDir,
          // A restore writes around the disk quota's counters: count the server again.
          restored: (id) => this.quotas.forget(id),
          log: this.log,
        }),
      };
      this.transfers = transfers;
      if (!this.closed && this.nc) transfers.listen(this.nc);
      return handlers;
    })();
    this.fileCommands.catch(() => (this.fileCommands = undefined));
    return this.fileCommands.then((handlers) => (Object.prototype.hasOwnProperty.call(handlers, verb) ? handlers[verb] : undefined));
  }

  /** Stops timers and connections; servers keep running (they are re-attached at the next start). */
  async stop(): Promise<void> {
    this.closed = true;
    clearTimeout(this.renewalReconnect);
    for (const t of this.timers) clearInterval(t);
    for (const c of this.jobs.values()) c.abort();
    this.bus?.close();
    await this.transfers?.close().catch(() => undefined);
    await this.sftp?.stop().catch(() => undefined);
    await this.servers?.close();
    if (this.nc && !this.nc.isClosed()) await this.nc.drain().catch(() => this.nc?.close());
  }

  /** The node's SFTP server (issue 11), on AGENT_SFTP_PORT; its port goes into the node spec. */
  private async startSftp(nc: NatsConnection): Promise<void> {
    const commands = new CommandClient(nc);
    this.sftp = new SftpServer({
      dataDir: this.config.dataDir,
      host: this.config.sftpHost,
      port: this.config.sftpPort,
      recheckMs: this.config.sftpRecheckMs,
      nodeId: () => this.nodeId,
      commands: () => (nc.isClosed() ? undefined : commands),
      servers: () => this.servers.ids(),
      serverDir: (id) => this.servers.serverDir(id),
      quota: (id) => this.quotas.of(id),
      // Every write, rename and delete is a fact for the audit log (server.files_changed, recorded by the nodes service).
      changed: ({ server_id, user_id, op, path, ...rest }) => void this.report(AGENT_REPORTS.sftpChange, { server_id, user_id, op, path, ...('to' in rest ? { to: rest.to } : {}), at: Date.now() }),
      log: this.log,
    });
    try {
      await this.sftp.start();
    } catch (error) {
      // A taken port must not keep the servers from running: the node reports no SFTP port.
      this.log(`sftp: cannot listen on ${this.config.sftpHost}:${this.config.sftpPort}: ${(error as Error).message}`);
      this.sftp = undefined;
    }
  }

  private async detectDrivers(): Promise<Map<string, Driver>> {
    const drivers = new Map<string, Driver>();
    if (this.config.drivers.includes('process')) {
      const options = { stateDir: join(this.config.dataDir, 'process-state'), uids: this.config.serverUids, pidsMax: this.config.serverPidsMax };
      drivers.set('process', new ProcessDriver(options));
    }
    if (this.config.drivers.includes('docker') && (process.env.DOCKER_HOST || existsSync('/var/run/docker.sock'))) {
      try {
        const { DockerDriver } = await import('./drivers/docker/docker-driver');
        // AGENT_DOCKER_NETWORK: 'bridge' (default, maps ports), 'none' where the engine has no bridge, or 'host'.
        const docker = new DockerDriver({ network: process.env.AGENT_DOCKER_NETWORK || undefined, pidsMax: this.config.serverPidsMax });
        await Promise.race([docker.capabilities(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 3000))]);
        drivers.set('docker', docker);
      } catch (error) {
        this.log(`docker driver unavailable: ${(error as Error).message}`);
      }
    }
    return drivers;
  }

  private watchStatus(nc: NatsConnection): void {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === Events.Reconnect && !this.closed && Date.now() > this.ownReconnectUntil) {
          // A reconnect may follow a partition during which desired state changed: report and get synced.
          void this.reportBoot();
          this.heartbeat();
        }
        if (s.type === Events.Error) this.log(`nats: ${String(s.data)}`);
      }
    })();
  }

  private startTimers(): void {
    this.heartbeat();
    const hb = setInterval(() => this.heartbeat(), this.config.heartbeatMs);
    const usage = setInterval(() => void this.publishUsage(), this.config.usageMs);
    this.timers.push(hb, usage);
    void this.publishUsage();
  }

  private heartbeat(): void {
    if (!this.nc || this.nc.isClosed()) return;
    const expiresAt = this.credsExpiresAt();
    const hb: Heartbeat = { at: Date.now(), seq: ++this.heartbeatSeq, interval_ms: this.config.heartbeatMs, version: AGENT_VERSION, ...(expiresAt ? { creds_expires_at: expiresAt } : {}) };
    this.nc.publish(Subjects.agentHeartbeat(this.nodeId), json.encode(hb));
  }

  private async publishUsage(): Promise<void> {
    if (!this.nc || this.nc.isClosed()) return;
    try {
      const servers = await this.servers.stats();
      const sample = await this.sampler.sample(this.nodeId, servers);
      this.nc.publish(Subjects.nodeUsage(this.nodeId), json.encode(sample));
      for (const s of servers) this.nc.publish(Subjects.serverUsage(this.nodeId, s.server_id), json.encode({ ...s, at: sample.at }));
    } catch (error) {
      this.log(`usage sample failed: ${(error as Error).message}`);
    }
  }

  private async reportBoot(): Promise<void> {
    const drivers = await Promise.all([...this.drivers.values()].map((d) => d.capabilities().catch(() => ({ driver: d.name }))));
    const capabilities: Record<string, unknown>[] = drivers.map((c) => ({ ...c }));
    const iso = await isolation().catch(() => undefined);
    // What jobs are isolated with, next to what each driver enforces for servers.
    if (iso) capabilities.push({ sandbox: 'jobs', network: iso.network, memory: iso.memory, user: iso.user, tmp: iso.tmp, processes: iso.processes, pids: iso.pids, notes: iso.notes });
    const spec = await machineSpec([...this.drivers.keys()], capabilities, iso ? Object.keys(iso.runtimes) : []);
    await this.report(AGENT_REPORTS.boot, { spec: { ...spec, ...(this.sftp?.port ? { sftp: { port: this.sftp.port, host: this.config.sftpPublicHost ?? spec.hostname } } : {}) }, at: Date.now() });
  }

  /** Publishes a fact to AGENT_REPORTS and waits for the stream's ack; retried across a reconnect. */
  private async report(kind: string, data: unknown): Promise<void> {
    const body = json.encode(data);
    // The same message id on every attempt: JetStream keeps one copy if an ack was lost, not the message.
    const msgID = `${this.nodeId}-${kind}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    for (let attempt = 0; attempt < 10 && !this.closed; attempt++) {
      if (!this.nc || this.nc.isClosed()) return;
      try {
        await this.nc.jetstream().publish(Subjects.agentReport(this.nodeId, kind), body, { timeout: 5000, msgID });
        return;
      } catch (error) {
        if (attempt === 9) this.log(`report ${kind} failed: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
      }
    }
  }

  private publishLine(serverId: string, line: string, stream: ConsoleLine['stream']): void {
    if (!this.nc || this.nc.isClosed()) return;
    const payload: ConsoleLine = { line, stream, at: Date.now() };
    try {
      this.nc.publish(Subjects.consoleOut(serverId), json.encode(payload));
    } catch {
      // Not allowed yet (credentials for a brand-new server still on their way): the line is in the log file.
    }
  }

  /** Subscribes `console.<id>.in` of every server (re-created after each credential change). */
  private followConsoles(ids: string[]): void {
    if (!this.nc || this.nc.isClosed()) return;
    const wanted = new Set(ids);
    for (const [id, sub] of this.consoleSubs) {
      if (!wanted.has(id) || sub.isClosed()) {
        sub.unsubscribe();
        this.consoleSubs.delete(id);
      }
    }
    for (const id of wanted) {
      if (this.consoleSubs.has(id)) continue;
      const sub = this.nc.subscribe(Subjects.consoleIn(id), {
        callback: (err, msg) => {
          if (err) return;
          const text = new TextDecoder().decode(msg.data);
          let line = text;
          try {
            const parsed = JSON.parse(text);
            line = typeof parsed === 'string' ? parsed : (parsed.line ?? parsed.command ?? text);
          } catch {
            // plain text line
          }
          void this.servers.write(id, line).catch((error) => this.log(`console input to ${id}: ${(error as Error).message}`));
        },
      });
      this.consoleSubs.set(id, sub);
    }
  }

  /**
   * Stores new credentials and, when their permissions differ, reconnects with them — after the
   * reply to the command that brought them has left (reconnecting first would lose that reply and
   * leave the nodes service waiting for its timeout).
   */
  private async replaceCreds(creds: string): Promise<boolean> {
    if (creds === this.identity.creds) return false;
    const samePermissions = permissionsOf(creds) === permissionsOf(this.identity.creds);
    const oldExpiry = this.credsExpiresAt();
    this.identity = { ...this.identity, creds };
    await writeIdentity(this.config.dataDir, this.identity);
    const reconnect = () => void this.reconnectWithNewCreds().catch((error) => this.log(`reconnect with new credentials failed: ${(error as Error).message}`));
    clearTimeout(this.renewalReconnect);
    if (samePermissions) {
      // Same permissions: the connection stays; the new creds are used at the next reconnect. The
      // server drops a connection when the JWT it was opened with expires, so reconnect on the
      // renewed ones well before that (halfway), not at once: syncs re-send creds often.
      if (oldExpiry !== undefined) this.renewalReconnect = setTimeout(reconnect, Math.max(0, (oldExpiry - Date.now()) / 2));
      this.renewalReconnect?.unref();
      return false;
    }
    setTimeout(reconnect, 0);
    return true;
  }

  private async reconnectWithNewCreds(): Promise<void> {
    // Replies may only leave on the connection their request came in on (NATS response
    // permissions), so let the commands in flight answer first (bounded: a long job may not).
    await this.bus?.idle(RECONNECT_IDLE_WAIT_MS);
    await this.nc!.flush().catch(() => undefined);
    // Subscriptions refused under the old permissions are closed by the client: drop and redo them after reconnecting.
    for (const sub of this.consoleSubs.values()) sub.unsubscribe();
    this.consoleSubs.clear();
    // The status event of this reconnect arrives asynchronously; ignore reconnects in the next seconds.
    this.ownReconnectUntil = Date.now() + 3000;
    await this.nc!.reconnect();
    await this.nc!.flush().catch(() => undefined);
    // The nodes service waits for this before sending more commands (ping answers it).
    this.generation++;
    this.ownReconnectUntil = Date.now() + 1000;
    this.followConsoles(this.servers.ids());
  }

  private credsExpiresAt(): number | undefined {
    const creds = this.identity.creds;
    if (this.credsExpiryMemo.creds !== creds) this.credsExpiryMemo = { creds, at: credsExpiry(creds) };
    return this.credsExpiryMemo.at;
  }

  /** After the node was deleted: its credentials are removed from disk and the agent stops. */
  private async forgetIdentity(): Promise<void> {
    this.log(`node ${this.nodeId} was deleted: credentials removed; enroll with a new token to rejoin`);
    await rm(join(this.config.dataDir, 'identity.json'), { force: true });
    await this.stop();
    this.markRevoked();
  }

  private async sync(cmd: SyncCommand) {
    if (cmd.creds) await this.replaceCreds(cmd.creds);
    const servers = await this.servers.sync(cmd.servers);
    return { servers };
  }

  private rememberCancelled(jobId: string): void {
    const now = Date.now();
    for (const [id, expires] of this.cancelledJobs) if (expires < now || this.cancelledJobs.size >= 1000) this.cancelledJobs.delete(id);
    this.cancelledJobs.set(jobId, now + 600_000);
  }

  private async runJob(cmd: RunJobCommand): Promise<JobResultReply> {
    const controller = new AbortController();
    if (this.cancelledJobs.delete(cmd.job_id)) controller.abort();
    this.jobs.set(cmd.job_id, controller);
    try {
      const subject = Subjects.jobOutput(this.identity.node_id, cmd.job_id);
      // Live output for whoever watches (the console's jobs.run call); the reply still carries all of it.
      const onOutput = (line: string, stream: 'stdout' | 'stderr') => {
        try {
          this.nc?.publish(subject, JSON.stringify({ line, stream }));
        } catch {}
      };
      const result = await runJob(
        { runtime: cmd.runtime, code: cmd.code, stdin: cmd.stdin, timeoutMs: cmd.timeout_ms, memoryMb: cmd.memory_mb },
        { signal: controller.signal, onOutput, uids: this.jobUids, pidsMax: this.config.jobPidsMax },
      );
      const iso = await isolation().catch(() => undefined);
      return { ...result, isolation: iso ? { network: iso.network, memory: iso.memory } : undefined };
    } finally {
      this.jobs.delete(cmd.job_id);
    }
  }
}

/** The pub/sub permissions inside a creds file's user JWT (to skip reconnects that change nothing). */
export function permissionsOf(creds: string): string {
  const jwt = /-----BEGIN NATS USER JWT-----\s*([^\s-][^\s]*)\s*------END NATS USER JWT------/.exec(creds)?.[1];
  if (!jwt) return '';
  try {
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
    const nats = claims.nats ?? {};
    const norm = (p?: { allow?: string[]; deny?: string[] }) => ({ allow: [...(p?.allow ?? [])].sort(), deny: [...(p?.deny ?? [])].sort() });
    return JSON.stringify({ pub: norm(nats.pub), sub: norm(nats.sub) });
  } catch {
    return '';
  }
}
