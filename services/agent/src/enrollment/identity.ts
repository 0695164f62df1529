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

/**
 * Enrolls with a one-time token: connects as the bootstrap user (allowed only to request
 * `cmd.nodes.enroll`), trades the token for a node id and the agent's own credentials, stores them.
 */
export async function enroll(options: { natsUrl: string; dataDir: string; token: string; bootstrapCreds?: string; version: string }): Promise<AgentIdentity> {
  const parsed = parseEnrollmentToken(options.token);
  if (!parsed) throw new DomainError('VALIDATION_FAILED', 'agent/enrollment: the token is malformed (expected enc1.<node>.<secret>[.<creds>])');
  const bootstrap = parsed.bootstrapCreds ?? options.bootstrapCreds;
  if (!bootstrap) throw new DomainError('VALIDATION_FAILED', 'agent/enrollment: the token carries no bootstrap credentials; pass --bootstrap-creds');
  const nc = await connect({
    servers: options.natsUrl,
    name: 'encedeus-agent-bootstrap',
    authenticator: credsAuthenticator(new TextEncoder().encode(bootstrap)),
    // Each NATS user may only subscribe under its own inbox prefix (libs/messaging nats-auth).
    inboxPrefix: inboxPrefixFromCreds(bootstrap),
    maxReconnectAttempts: 10,
  });
  try {
    const reply = await new CommandClient(nc, 15_000).request<EnrollReply>(
      Subjects.enroll,
      { token: options.token, agent_version: options.version, hostname: hostname() },
      { actor: 'system' },
      {},
      'nodes',
    );
    const identity: AgentIdentity = { node_id: reply.node_id, creds: reply.creds, enrolled_at: new Date().toISOString() };
    await writeIdentity(options.dataDir, identity);
    return identity;
  } finally {
    await nc.close().catch(() => undefined);
  }
}
