import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_SFTP_PORT } from '@encedeus/contracts';
import { parseUidRange, type UidRange } from './sandbox/uid-pool';

/** Configuration of one agent: flags first, then environment, then defaults. */
export interface AgentConfig {
  /** `--nats` / NATS_URL. @default nats://127.0.0.1:4250 */
  natsUrl: string;
  /** True when `--nats` / NATS_URL was given (else the URL named at enrollment wins over the default). */
  natsUrlGiven?: boolean;
  /** `--gateway` / ENCEDEUS_GATEWAY_URL: the control plane's URL, where a short token is traded for credentials. */
  gatewayUrl?: string;
  /** `--enroll-only`: trade the token for credentials, store them, exit (install.sh). */
  enrollOnly?: boolean;
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
  /** `--server-uids` / AGENT_SERVER_UIDS: uids given to process-driver servers, one each (agent as root). @default 200000-249999 */
  serverUids: UidRange;
  /** `--job-uids` / AGENT_JOB_UIDS: uids given to jobs, one per running job; must not overlap serverUids. @default 250000-299999 */
  jobUids: UidRange;
  /** `--server-pids-max` / AGENT_SERVER_PIDS_MAX: processes and threads per server. @default 1024 */
  serverPidsMax: number;
  /** `--job-pids-max` / AGENT_JOB_PIDS_MAX: processes and threads per job. @default 64 */
  jobPidsMax: number;
  /** `--sftp-port` / AGENT_SFTP_PORT: the node's SFTP port; 0 takes a free one (tests). @default 2022 */
  sftpPort: number;
  /** `--sftp-host` / AGENT_SFTP_HOST: address the SFTP server binds. @default 0.0.0.0 */
  sftpHost: string;
  /** `--sftp-public-host` / AGENT_SFTP_PUBLIC_HOST: the host name shown to users for SFTP. @default the machine's host name */
  sftpPublicHost?: string;
  /** `--sftp-recheck-ms` / AGENT_SFTP_RECHECK_MS: how often an open SFTP session's user and permissions are checked again. @default 10000 */
  sftpRecheckMs: number;
}

function uidRange(name: string, text: string | undefined, fallback: UidRange): UidRange {
  if (text === undefined) return fallback;
  const range = parseUidRange(text);
  if (!range) throw new Error(`agent: ${name} must be "first-last" with 1000 <= first <= last, got "${text}"`);
  return range;
}

function port(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`agent: ${name} must be a port between 0 and 65535, got "${text}"`);
  return value;
}

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 8) throw new Error(`agent: ${name} must be an integer of at least 8, got "${text}"`);
  return value;
}

function gatewayUrl(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`agent: --gateway must be an http(s) URL, got "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`agent: --gateway must be an http(s) URL, got "${text}"`);
  return url.origin + url.pathname.replace(/\/+$/, '');
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
  const serverUids = uidRange('AGENT_SERVER_UIDS', pick('server-uids', 'AGENT_SERVER_UIDS'), { first: 200_000, last: 249_999 });
  const jobUids = uidRange('AGENT_JOB_UIDS', pick('job-uids', 'AGENT_JOB_UIDS'), { first: 250_000, last: 299_999 });
  // A job sharing a uid with a server could read its files and signal its processes.
  if (jobUids.first <= serverUids.last && serverUids.first <= jobUids.last) throw new Error('agent: AGENT_JOB_UIDS and AGENT_SERVER_UIDS overlap');
  return {
    natsUrl: pick('nats', 'NATS_URL') ?? 'nats://127.0.0.1:4250',
    natsUrlGiven: pick('nats', 'NATS_URL') !== undefined,
    enrollOnly: flags.get('enroll-only') === 'true',
    gatewayUrl: gatewayUrl(pick('gateway', 'ENCEDEUS_GATEWAY_URL')),
    token: pick('token', 'ENCEDEUS_ENROLL_TOKEN'),
    dataDir: resolve(pick('data-dir', 'AGENT_DATA_DIR') ?? '.data/agent'),
    bootstrapCreds: bootstrap && !bootstrap.includes('BEGIN NATS USER JWT') && existsSync(bootstrap) ? readFileSync(bootstrap, 'utf8') : bootstrap,
    heartbeatMs: Math.max(100, Number(pick('heartbeat-ms', 'AGENT_HEARTBEAT_MS') ?? 5000)),
    usageMs: Math.max(1000, Number(pick('usage-ms', 'AGENT_USAGE_MS') ?? 5000)),
    drivers: (pick('drivers', 'AGENT_DRIVERS') ?? 'process,docker').split(',').map((d) => d.trim()).filter(Boolean),
    serverUids,
    jobUids,
    serverPidsMax: positive('AGENT_SERVER_PIDS_MAX', pick('server-pids-max', 'AGENT_SERVER_PIDS_MAX'), 1024),
    jobPidsMax: positive('AGENT_JOB_PIDS_MAX', pick('job-pids-max', 'AGENT_JOB_PIDS_MAX'), 64),
    sftpPort: port('AGENT_SFTP_PORT', pick('sftp-port', 'AGENT_SFTP_PORT'), DEFAULT_SFTP_PORT),
    sftpHost: pick('sftp-host', 'AGENT_SFTP_HOST') ?? '0.0.0.0',
    sftpPublicHost: pick('sftp-public-host', 'AGENT_SFTP_PUBLIC_HOST'),
    sftpRecheckMs: Math.max(100, Number(pick('sftp-recheck-ms', 'AGENT_SFTP_RECHECK_MS') ?? 10_000) || 10_000),
  };
}
