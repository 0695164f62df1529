import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** Configuration of one agent: flags first, then environment, then defaults. */
export interface AgentConfig {
  /** `--nats` / NATS_URL. @default nats://127.0.0.1:4250 */
  natsUrl: string;
  /** `--token` / ENCEDEUS_ENROLL_TOKEN: one-time enrollment token (only needed before the first enrollment). */
  token?: string;
  /** `--data-dir` / AGENT_DATA_DIR: identity, credentials, server directories, driver state. @default .data/agent */
  dataDir: string;
  /** `--bootstrap-creds` / AGENT_BOOTSTRAP_CREDS (file path or content): used when the token carries none. */
  bootstrapCreds?: string;
  /** `--heartbeat-ms` / AGENT_HEARTBEAT_MS. @default 5000 */
  heartbeatMs: number;
  /** `--usage-ms` / AGENT_USAGE_MS, at least 1000. @default 5000 */
  usageMs: number;
  /** `--drivers` / AGENT_DRIVERS: comma list of drivers to try. @default process,docker */
  drivers: string[];
}

export function parseAgentArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) continue;
    const eq = arg.indexOf('=');
    if (eq > 0) flags.set(arg.slice(2, eq), arg.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags.set(arg.slice(2), argv[++i]);
    else flags.set(arg.slice(2), 'true');
  }
  const pick = (flag: string, name: string) => flags.get(flag) ?? env[name] ?? undefined;
  const bootstrap = pick('bootstrap-creds', 'AGENT_BOOTSTRAP_CREDS');
  return {
    natsUrl: pick('nats', 'NATS_URL') ?? 'nats://127.0.0.1:4250',
    token: pick('token', 'ENCEDEUS_ENROLL_TOKEN'),
    dataDir: resolve(pick('data-dir', 'AGENT_DATA_DIR') ?? '.data/agent'),
    bootstrapCreds: bootstrap && !bootstrap.includes('BEGIN NATS USER JWT') && existsSync(bootstrap) ? readFileSync(bootstrap, 'utf8') : bootstrap,
    heartbeatMs: Math.max(100, Number(pick('heartbeat-ms', 'AGENT_HEARTBEAT_MS') ?? 5000)),
    usageMs: Math.max(1000, Number(pick('usage-ms', 'AGENT_USAGE_MS') ?? 5000)),
    drivers: (pick('drivers', 'AGENT_DRIVERS') ?? 'process,docker').split(',').map((d) => d.trim()).filter(Boolean),
  };
}
