import type { EventEmitter } from 'node:events';

/** Which implementation runs a server. */
export type DriverName = 'process' | 'docker';

/** Transport protocol of a port binding. */
export type PortProtocol = 'tcp' | 'udp';

/** One port a server listens on; the process driver cannot remap, so there `host` must equal `container`. */
export interface PortBinding {
  /** Port on the node. */
  host: number;
  /** Port inside the container (process driver: ignored, the process binds `host` itself). */
  container: number;
  /** Transport protocol. */
  protocol: PortProtocol;
  /** Host address to bind. @default '0.0.0.0' */
  ip?: string;
}

/** Resource limits of a server; 0 means unlimited. */
export interface ResourceLimits {
  /** Memory in MiB (RAM, no swap). */
  memoryMb: number;
  /** CPU time in percent of one core (200 = two cores). */
  cpuPercent: number;
  /** Size of the server directory in MiB; going over stops the server (see 'disk_exceeded'). */
  diskMb: number;
}

/** How a server is asked to stop. */
export interface StopPolicy {
  /** Console line written first (`stop`, `quit`); the server gets `timeoutS` to exit on its own. */
  command?: string;
  /** Signal sent when there is no command or it did not work. @default 'SIGTERM' */
  signal?: NodeJS.Signals;
  /** Seconds each phase (command, then signal) waits before the next one; SIGKILL ends it. */
  timeoutS: number;
}

/** Everything a driver needs to run one server; the agent builds it from the template and allocation. */
export interface ServerSpec {
  /** Server id (a UUID); names the container (`encedeus-<id>`) and the process driver's state folder. */
  id: string;
  /** The server's own directory (absolute); created when missing, deleted by `remove`. */
  dir: string;
  /** Image (docker driver only, required there). */
  image?: string;
  /** Rendered command line, run through `sh -c` (in the container for docker). */
  startup: string;
  /** Environment of the server; the agent's own environment is never passed through. */
  env: Record<string, string>;
  /** Resource limits. */
  limits: ResourceLimits;
  /** Ports the server uses. */
  ports: PortBinding[];
  /** How to stop it. */
  stop: StopPolicy;
}

/** How a limit is enforced on this node. */
export type Enforcement = 'cgroup-v2' | 'cgroup-v1' | 'rlimit' | 'docker' | 'watcher' | 'none';

/** What a driver can actually enforce on this machine (reported in the node's capabilities). */
export interface DriverCapabilities {
  /** Driver name. */
  driver: DriverName;
  /** How `limits.memoryMb` is enforced. */
  memory: Enforcement;
  /** How `limits.cpuPercent` is enforced. */
  cpu: Enforcement;
  /** How `limits.diskMb` is enforced ('watcher': periodic size walk, stop when over). */
  disk: Enforcement;
  /** Network a server gets: its own namespace with mapped ports, the host's, or none. */
  network: 'isolated' | 'host' | 'none';
  /** Whom a server runs as: its own uid (allocated per server), the container's user, or the agent's user (agent not root). */
  user: 'per-server-uid' | 'container' | 'agent-user';
  /** /tmp of a server: its own (mount namespace or container) or the host's. */
  tmp: 'private' | 'shared';
  /** How the number of processes/threads of a server is bounded. */
  pids: Enforcement;
  /** Whether a server keeps running when the agent dies, and `recover` re-attaches to it. */
  survivesAgentRestart: boolean;
  /** Human-readable remarks (why a limit is not enforced, engine version, …). */
  notes: string[];
}

/** One usage sample of a running server. */
export interface ServerStats {
  /** CPU use since the previous sample, in percent of one core. */
  cpuPercent: number;
  /** Resident memory without page cache. */
  memoryBytes: number;
  /** Memory limit, or the node's total memory when unlimited. */
  memoryLimitBytes: number;
  /** Size of the server directory (last measurement of the disk watcher). */
  diskBytes: number;
  /** Milliseconds since the server started (since recovery when unknown). */
  uptimeMs: number;
}

/** Why a server stopped, as far as the driver knows. */
export interface ExitInfo {
  /** Exit status; 128+n when signal n ended it (docker's convention); null when unknown (exited while the agent was away without a status). */
  code: number | null;
  /** Signal that ended it, when known. */
  signal: NodeJS.Signals | null;
  /** True when the agent asked for it (stop, kill, remove, disk limit): not a crash. */
  expected: boolean;
  /** Set when a limit ended it. */
  reason?: 'oom' | 'disk_exceeded';
}

/** Output stream of a console line. */
export type ConsoleStream = 'stdout' | 'stderr';

/** State of a server as the driver last saw it; 'unknown' means the driver has no spec for the id. */
export type ServerState = 'running' | 'stopped' | 'unknown';

/** Result of `exec`. */
export interface ExecResult {
  /** Exit status of the command. */
  exitCode: number;
  /** Captured stdout (capped at 1 MiB). */
  stdout: string;
  /** Captured stderr (capped at 1 MiB). */
  stderr: string;
}

/** Options of `exec`. */
export interface ExecOptions {
  /** Kill the command after this long. @default 60000 */
  timeoutMs?: number;
}

/** Events every driver emits. */
export interface DriverEvents {
  /** A server stopped; emitted once per run, also for a server that exited while the agent was away (during `recover`). */
  exit: [id: string, info: ExitInfo];
  /** The disk watcher found the directory over `limits.diskMb`; the driver stops the server right after. */
  disk_exceeded: [id: string, usage: { diskBytes: number; limitBytes: number }];
  /** A console line (same lines `attach` delivers), for an agent that publishes everything. */
  output: [id: string, line: string, stream: ConsoleStream];
}

/**
 * What a node can do to a server process (Nomad's task driver, Wings' environment).
 * Methods taking an id throw ServerNotFoundError when no spec is known for it (create or recover first).
 */
export interface Driver extends EventEmitter<DriverEvents> {
  /** Implementation name. */
  readonly name: DriverName;
  /** What this driver enforces here; detected once and cached. */
  capabilities(): Promise<DriverCapabilities>;
  /** Learns the spec and prepares the server (directory; docker: image, pulled when missing; process: state folder and stdin FIFO). Idempotent; a running server keeps running, with new limits applied at once where the kernel/engine allows, everything else at the next start. */
  create(spec: ServerSpec): Promise<void>;
  /** Starts the server. Already running is not an error; over its disk limit throws DiskLimitExceededError. */
  start(id: string): Promise<void>;
  /** Stop command on stdin, then stop.signal, then SIGKILL, each phase waiting stop.timeoutS. Already stopped is not an error. */
  stop(id: string): Promise<void>;
  /** Sends a signal to the whole server (process group / container). @default signal 'SIGKILL'. Not running is not an error. */
  kill(id: string, signal?: NodeJS.Signals): Promise<void>;
  /** Stops the server if needed and deletes its directory, container, cgroup and state. Unknown id is not an error. */
  remove(id: string): Promise<void>;
  /** Calls onLine for every console line from now on (partial lines at exit are flushed); returns the detach function. Works before start and across restarts. */
  attach(id: string, onLine: (line: string, stream: ConsoleStream) => void): () => void;
  /** Writes one console line to the server's stdin (a newline is added when missing). Throws ServerNotRunningError when stopped. */
  write(id: string, input: string): Promise<void>;
  /** Current usage; undefined when the server is not running. */
  stats(id: string): Promise<ServerStats | undefined>;
  /** Runs a command next to the server (process: in its directory with its env; docker: inside the running container). */
  exec(id: string, command: string[], options?: ExecOptions): Promise<ExecResult>;
  /** After an agent restart: learns the spec and re-attaches to the server if it still runs; emits 'exit' first when it ended meanwhile. */
  recover(spec: ServerSpec): Promise<'running' | 'exited'>;
  /** Last known state, synchronously. */
  state(id: string): ServerState;
  /** Releases watchers, timers and connections; servers keep running (agent shutdown). */
  close(): Promise<void>;
}
