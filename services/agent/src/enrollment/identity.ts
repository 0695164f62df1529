import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator } from 'nats';
import { DomainError, parseEnrollmentToken, Subjects, type EnrollReply } from '@encedeus/contracts';
import { CommandClient, inboxPrefixFromCreds } from '@encedeus/messaging';

/** What an enrolled agent keeps in its data dir (0600): its node id and its own NATS credentials. */
export interface AgentIdentity {
  node_id: string;
  creds: string;
  enrolled_at: string;
  /** The NATS URL the control plane named at enrollment; used unless `--nats` / NATS_URL says otherwise. */
  nats_url?: string;
}

const FILE = 'identity.json';

export async function readIdentity(dataDir: string): Promise<AgentIdentity | undefined> {
  const path = join(dataDir, FILE);
  if (!existsSync(path)) return undefined;
  return JSON.parse(await readFile(path, 'utf8')) as AgentIdentity;
}

/**
 * The agent's data dir is root's: 0711, so servers reach their own folders under `volumes/` but
 * nobody lists it; identity.json (the node's NATS seed) 0600. Run at every start: older agents left 0755/0644.
 */
export async function secureDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o711 });
  await chmod(dataDir, 0o711);
  if (existsSync(join(dataDir, FILE))) await chmod(join(dataDir, FILE), 0o600);
}

/** Writes of the identity file, one after the other (two credentials pushes at once raced on the .tmp file). */
let writes: Promise<void> = Promise.resolve();

export function writeIdentity(dataDir: string, identity: AgentIdentity): Promise<void> {
  const write = writes.then(() => writeIdentityNow(dataDir, identity));
  writes = write.catch(() => undefined);
  return write;
}

async function writeIdentityNow(dataDir: string, identity: AgentIdentity): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, FILE);
  // Write-then-rename: an agent killed mid-write keeps the previous credentials.
  await writeFile(`${path}.tmp`, JSON.stringify(identity, null, 2), { mode: 0o600 });
  await rename(`${path}.tmp`, path);
  // A leftover .tmp of a crashed write keeps its old mode through writeFile; the seed must be 0600 anyway.
  await chmod(path, 0o600);
}

/** What enrolling needs: the token and either the gateway (short tokens) or a bootstrap NATS user. */
export interface EnrollOptions {
  natsUrl: string;
  dataDir: string;
  token: string;
  /** The gateway that issued the token (`--gateway`): the token is traded at `POST /api/v1/agent/enroll`. */
  gatewayUrl?: string;
  /** A bootstrap NATS user (allowed only `cmd.nodes.enroll`): the token is traded over NATS instead. */
  bootstrapCreds?: string;
  version: string;
}

/**
 * Trades a one-time token for the node id and the agent's own credentials, and stores them (0600);
 * the token is never needed again. With a gateway URL over HTTPS/HTTP (`POST /api/v1/agent/enroll`),
 * else as a bootstrap NATS user (allowed only `cmd.nodes.enroll`; tooling and tests, or an older
 * `enc1.` token that carries one).
 */
export async function enroll(options: EnrollOptions): Promise<AgentIdentity> {
  const reply = options.gatewayUrl ? await enrollOverHttp(options, options.gatewayUrl) : await enrollOverNats(options);
  const identity: AgentIdentity = { node_id: reply.node_id, creds: reply.creds, enrolled_at: new Date().toISOString(), ...(reply.nats_url ? { nats_url: reply.nats_url } : {}) };
  await writeIdentity(options.dataDir, identity);
  return identity;
}

async function enrollOverHttp(options: EnrollOptions, gatewayUrl: string): Promise<EnrollReply> {
  const url = `${gatewayUrl.replace(/\/+$/, '')}/api/v1/agent/enroll`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ token: options.token.trim(), agent_version: options.version, hostname: hostname().slice(0, 255) }),
    signal: AbortSignal.timeout(30_000),
  }).catch((error: Error) => {
    throw new DomainError('SERVICE_UNAVAILABLE', `agent/enrollment: cannot reach ${url}: ${error.message}`);
  });
  const body = (await res.json().catch(() => ({}))) as Partial<EnrollReply> & { error?: string; code?: string };
  if (!res.ok) throw new DomainError(body.code ?? 'UNAUTHENTICATED', `agent/enrollment: ${res.status} ${body.error ?? res.statusText}`);
  if (typeof body.node_id !== 'string' || typeof body.creds !== 'string') throw new DomainError('INTERNAL', 'agent/enrollment: the gateway answered without credentials');
  return { node_id: body.node_id, creds: body.creds, nats_url: typeof body.nats_url === 'string' ? body.nats_url : undefined };
}

async function enrollOverNats(options: EnrollOptions): Promise<EnrollReply> {
  const parsed = parseEnrollmentToken(options.token);
  const bootstrap = parsed?.bootstrapCreds ?? options.bootstrapCreds;
  if (!bootstrap) throw new DomainError('VALIDATION_FAILED', 'agent/enrollment: pass --gateway <url of the control plane> (or ENCEDEUS_GATEWAY_URL) to trade the token');
  const nc = await connect({
    servers: options.natsUrl,
    name: 'encedeus-agent-bootstrap',
    authenticator: credsAuthenticator(new TextEncoder().encode(bootstrap)),
    // Each NATS user may only subscribe under its own inbox prefix (libs/messaging nats-auth).
    inboxPrefix: inboxPrefixFromCreds(bootstrap),
    maxReconnectAttempts: 10,
  });
  try {
    return await new CommandClient(nc, 15_000).request<EnrollReply>(
      Subjects.enroll,
      { token: options.token.trim(), agent_version: options.version, hostname: hostname().slice(0, 255) },
      { actor: 'system' },
      {},
      'nodes',
    );
  } finally {
    await nc.close().catch(() => undefined);
  }
}
