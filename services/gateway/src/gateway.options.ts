import type { DynamicModule } from '@nestjs/common';
import type { ServiceName } from '@encedeus/contracts';
import type { AccountAdmin, AccountSigner } from '@encedeus/messaging';
import type { AgentBundleOptions } from './agent-install/agent-bundle';
import type { RequestDeadlines } from './common/request-deadlines';

/** Everything the gateway needs, injected explicitly (main.ts reads it from config; tests from the harness). */
export interface GatewayOptions {
  nats: { servers: string | string[]; creds: string };
  databaseUrl: string;
  /** Account signer, to mint integrator NATS credentials. */
  signer?: AccountSigner;
  /** Operator seed + system user, to revoke integrator credentials (`DELETE /integrations/nats-credentials/:id`). */
  accountAdmin?: AccountAdmin;
  /** The agent bundle served at /agent/encedeus-agent.tgz. @default ENCEDEUS_AGENT_BUNDLE, else build/agent/ of the checkout, built on first request */
  agentBundle?: AgentBundleOptions;
  /** Public NATS URL written into issued credentials' docs. @default nats.servers[0] */
  publicNatsUrl?: string;
  /** Services whose health /health reports. @default auth, users, nodes */
  services?: ServiceName[];
  /** Built console to serve at `/`. */
  consoleDir?: string;
  /** Feature modules (identity, fleet, realtime) added by their owners. */
  features?: DynamicModule[];
  /**
   * Reverse proxies (addresses or CIDRs) whose `X-Forwarded-For` names the client.
   * @default TRUSTED_PROXIES from the environment; none when unset
   */
  trustedProxies?: string[];
  /** When no feature provides PRINCIPAL_RESOLVER, every guarded route answers 401. */
  logLevel?: string;
  /** Body deadlines (multipart uploads: idle time; other bodies: total time). @default from GATEWAY_BODY_TIMEOUT_MS / GATEWAY_UPLOAD_IDLE_TIMEOUT_MS, else 5 min / 2 min */
  requestDeadlines?: RequestDeadlines;
}

export const GATEWAY_OPTIONS = Symbol('GATEWAY_OPTIONS');
