import './native-ed25519';
import { createAccount, createOperator, createUser, fromSeed } from 'nkeys.js';
import { Algorithms, encodeAccount, encodeOperator, encodeUser, fmtCreds } from 'nats-jwt';

/**
 * Operator-mode trust chain for one Encedeus installation (DESIGN.md §9):
 * operator → system account + ENCEDEUS account (JetStream on, with a signing key) → users.
 * Seeds are secrets: this bundle is stored with 0600 permissions and never logged.
 */
export interface OperatorBundle {
  operator: { jwt: string; seed: string; pub: string };
  system: { jwt: string; seed: string; pub: string };
  account: { jwt: string; seed: string; pub: string; signingSeed: string; signingPub: string };
}

/** What a minted user may publish and subscribe to. */
export interface SubjectPermissions {
  pub: string[];
  sub: string[];
  /**
   * Allow replies to requests this user receives without a publish permission on the requester's
   * inbox (NATS response permissions). Only for users that do not consume JetStream: the server
   * tracks one entry per received reply subject, and every JetStream delivery has one, which
   * slows consumers down by orders of magnitude (measured: bench/RESULTS.md). @default false
   */
  allowResponses?: boolean;
}

const text = new TextDecoder();
const seedOf = (kp: { getSeed(): Uint8Array }) => text.decode(kp.getSeed());

/** Generates a fresh operator, system account and ENCEDEUS account. */
export async function createOperatorBundle(): Promise<OperatorBundle> {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const signing = createAccount();
  const operatorJwt = await encodeOperator('encedeus', operator, { system_account: system.getPublicKey() }, { algorithm: Algorithms.v2 });
  const systemJwt = await encodeAccount('SYS', system, {}, { signer: operator, algorithm: Algorithms.v2 });
  const accountJwt = await encodeAccount(
    'ENCEDEUS',
    account,
    {
      limits: {
        subs: -1,
        data: -1,
        payload: -1,
        imports: -1,
        exports: -1,
        wildcards: true,
        conn: -1,
        leaf: -1,
        mem_storage: -1,
        disk_storage: -1,
        streams: -1,
        consumer: -1,
        max_ack_pending: -1,
        mem_max_stream_bytes: -1,
        disk_max_stream_bytes: -1,
        max_bytes_required: false,
      } as never,
      signing_keys: [signing.getPublicKey()],
    },
    { signer: operator, algorithm: Algorithms.v2 },
  );
  return {
    operator: { jwt: operatorJwt, seed: seedOf(operator), pub: operator.getPublicKey() },
    system: { jwt: systemJwt, seed: seedOf(system), pub: system.getPublicKey() },
    account: {
      jwt: accountJwt,
      seed: seedOf(account),
      pub: account.getPublicKey(),
      signingSeed: seedOf(signing),
      signingPub: signing.getPublicKey(),
    },
  };
}

/** The account half of a bundle: all that is needed to mint users at run time (nodes, gateway). */
export interface AccountSigner {
  accountPub: string;
  signingSeed: string;
}

export function accountSigner(bundle: OperatorBundle): AccountSigner {
  return { accountPub: bundle.account.pub, signingSeed: bundle.account.signingSeed };
}

export interface MintOptions {
  /** Seconds until the credentials expire. @default never */
  expiresInSeconds?: number;
}

/**
 * The inbox prefix of a NATS user. Every user subscribes only under its own prefix, so nobody can
 * read replies meant for someone else (a shared `_INBOX.>` would expose login tokens and creds).
 */
export function inboxPrefixFor(userName: string): string {
  // Bootstrap users of enrolling agents share one parent token so the nodes service can answer
  // them all (`_INBOX_bootstrap.>`) while each reads only its own.
  const bootstrap = /^agent-bootstrap-(.+)$/.exec(userName);
  if (bootstrap) return `_INBOX_bootstrap.${bootstrap[1].replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return `_INBOX_${userName.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** The claims of the user JWT a `.creds` file holds (not verified: the server does that). */
function userClaimsOf(creds: string): { name?: string; exp?: number } {
  const jwt = creds.match(/-----BEGIN NATS USER JWT-----\s*([^\s-][^\s]*)\s*------END NATS USER JWT------/)?.[1];
  if (!jwt) throw new Error('messaging/nats-auth: not a .creds file');
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

/** The inbox prefix of the user a `.creds` file holds (read from its JWT's name). */
export function inboxPrefixFromCreds(creds: string): string {
  return inboxPrefixFor(userClaimsOf(creds).name ?? 'anonymous');
}

/** When the user JWT of a `.creds` file expires (epoch ms), or undefined when it never does. */
export function credsExpiry(creds: string): number | undefined {
  const { exp } = userClaimsOf(creds);
  return exp ? exp * 1000 : undefined;
}

/** Response permission of users that answer requests but consume no JetStream (agents). */
// One reply per request, so each entry goes as soon as it is answered; the ttl outlives the longest job (15 min).
const RESPONSES = { max: 1, ttl: 20 * 60 * 1_000_000_000 };

/**
 * Mints a user of the ENCEDEUS account and returns its `.creds` file content. A `_INBOX.>` in the
 * permissions is narrowed to the user's own inbox prefix (see inboxPrefixFor); replies to received
 * requests are allowed through response permissions instead of publish rights on inboxes.
 */
export async function mintUserCreds(signer: AccountSigner, name: string, permissions: SubjectPermissions, options: MintOptions = {}): Promise<string> {
  const ownInbox = `${inboxPrefixFor(name)}.>`;
  const narrow = (subjects: string[], keep: boolean) =>
    subjects.flatMap((s) => (s === '_INBOX.>' ? (keep ? [ownInbox] : []) : [s]));
  const allowResponses = permissions.allowResponses ?? false;
  permissions = { pub: narrow(permissions.pub, false), sub: narrow(permissions.sub, true) };
  const user = createUser();
  const signingKey = fromSeed(new TextEncoder().encode(signer.signingSeed));
  const jwt = await encodeUser(
    name,
    user,
    signingKey,
    {
      issuer_account: signer.accountPub,
      pub: { allow: permissions.pub, deny: [] },
      sub: { allow: permissions.sub, deny: [] },
      ...(allowResponses ? { resp: RESPONSES } : {}),
      subs: -1,
      data: -1,
      payload: -1,
    } as never,
    {
      algorithm: Algorithms.v2,
      exp: options.expiresInSeconds ? Math.floor(Date.now() / 1000) + options.expiresInSeconds : undefined,
    },
  );
  return text.decode(fmtCreds(jwt, user));
}

/** Creds of a system-account user, for server monitoring only. */
export async function mintSystemCreds(bundle: OperatorBundle): Promise<string> {
  const user = createUser();
  const systemKey = fromSeed(new TextEncoder().encode(bundle.system.seed));
  const jwt = await encodeUser('sys', user, systemKey, {}, { algorithm: Algorithms.v2 });
  return text.decode(fmtCreds(jwt, user));
}

export interface ServerConfigOptions {
  host?: string;
  port: number;
  storeDir: string;
  /** HTTP monitoring port. @default off */
  httpPort?: number;
  serverName?: string;
}

/** nats-server configuration for operator mode with a memory resolver (works on 2.9.10). */
export function natsServerConfig(bundle: OperatorBundle, options: ServerConfigOptions): string {
  const lines = [
    `server_name: ${JSON.stringify(options.serverName ?? 'encedeus')}`,
    `host: ${JSON.stringify(options.host ?? '127.0.0.1')}`,
    `port: ${options.port}`,
    options.httpPort ? `http_port: ${options.httpPort}` : '',
    `max_payload: 8MB`,
    // An agent's user JWT lists the console subjects of every server it runs (~130 bytes each) and
    // rides in CONNECT: the 4 KB default refused agents with more than ~20 servers.
    `max_control_line: 512KB`,
    `jetstream: { store_dir: ${JSON.stringify(options.storeDir)} }`,
    `operator: ${bundle.operator.jwt}`,
    `system_account: ${bundle.system.pub}`,
    `resolver: MEMORY`,
    `resolver_preload: {`,
    `  ${bundle.system.pub}: ${bundle.system.jwt}`,
    `  ${bundle.account.pub}: ${bundle.account.jwt}`,
    `}`,
  ];
  return lines.filter(Boolean).join('\n') + '\n';
}
