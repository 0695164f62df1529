import type { AccountSigner, NatsConnectionOptions } from '@encedeus/messaging';

/** Options of the nodes service (NodesModule.forRoot). */
export interface NodesOptions {
  /** Account signer: mints each agent's NATS user at enrollment (and re-mints when its servers change). */
  signer: AccountSigner;
  /** NATS URL written into the enrollment command shown to operators. @default the service's own URL */
  publicNatsUrl: string;
  /** The gateway's public URL, written into the install command of enrollment tokens sent over NATS (the gateway writes its own for REST). Env ENCEDEUS_PUBLIC_URL. @default http://localhost:8080 */
  publicGatewayUrl?: string;
  /** Lifetime of an enrollment token. @default 3600 */
  enrollmentTtlS?: number;
  /**
   * Lifetime of an agent's NATS credentials. Online agents get fresh ones when half of it is left
   * (their heartbeat says when theirs expire); an agent offline longer must enroll again.
   * @default 7 days
   */
  agentCredsTtlS?: number;
  liveness?: { missed?: number; defaultIntervalMs?: number; sweepMs?: number };
  /** Skip seeding built-in templates (tests of the seeding itself). @default false */
  skipBuiltInTemplates?: boolean;
  /** How often the holder of the `fleet-timers` lease looks for due restarts and install retries. @default 250 */
  timersPollMs?: number;
  /** How long an install waits for its offline node, from the server's creation; then it ends install_failed. Env NODES_INSTALL_DEADLINE_S. @default 600 */
  installDeadlineS?: number;
}

export interface NodesModuleOptions extends NodesOptions {
  nats: Omit<NatsConnectionOptions, 'name'>;
  databaseUrl: string;
  /** The `fleet-liveness` lease: only its holder declares nodes offline (docs/fleet.md). @default { ttlMs: 5000 } */
  livenessLease?: { ttlMs?: number; renewMs?: number };
  /** The `fleet-timers` lease: only its holder runs restart and install timers (docs/fleet.md). @default { ttlMs: 5000 } */
  timersLease?: { ttlMs?: number; renewMs?: number };
}

export const NODES_OPTIONS = Symbol('NODES_OPTIONS');
