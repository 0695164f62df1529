import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { Algorithms, encodeUser, fmtCreds } from 'nats-jwt';
import { createUser, fromSeed } from 'nkeys.js';
import { inboxPrefixFor, SERVICE_PERMISSIONS, type NatsUserName } from '@encedeus/messaging';
import type { BenchEnv } from './harness';

/**
 * A connection as `user` whose JWT has the same subject permissions as libs/messaging
 * mintUserCreds gives it, minus the response permissions (`resp`). nats-server keeps one entry per
 * reply subject a connection with `resp` receives (every JetStream delivery carries one) for the
 * ttl, and once there are more than 4,096 it scans them all on every further delivery; the benches
 * measure the minted users as they are and this variant beside them, to show what that costs.
 */
export async function connectWithoutResponsePermissions(
  env: BenchEnv,
  user: NatsUserName,
  options: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  const name = `${user}-bench-no-resp`;
  const own = `${inboxPrefixFor(name)}.>`;
  const { pub, sub } = SERVICE_PERMISSIONS[user];
  const key = createUser();
  const jwt = await encodeUser(
    name,
    key,
    fromSeed(new TextEncoder().encode(env.nats.signer.signingSeed)),
    {
      issuer_account: env.nats.signer.accountPub,
      pub: { allow: pub.filter((s) => s !== '_INBOX.>'), deny: [] },
      sub: { allow: sub.map((s) => (s === '_INBOX.>' ? own : s)), deny: [] },
      subs: -1,
      data: -1,
      payload: -1,
    } as never,
    { algorithm: Algorithms.v2 },
  );
  return connect({
    servers: env.nats.url,
    name,
    authenticator: credsAuthenticator(fmtCreds(jwt, key)),
    inboxPrefix: inboxPrefixFor(name),
    ...options,
  });
}
