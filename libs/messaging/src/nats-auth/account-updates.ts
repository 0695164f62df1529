import { connect, credsAuthenticator } from 'nats';
import { encodeAccountJwt, type AccountAdmin } from './operator';

/**
 * Pushes a new ENCEDEUS account JWT (e.g. with a longer revocation list) to the running servers
 * through the system account (`$SYS.REQ.CLAIMS.UPDATE`, answered by the full resolver, which
 * stores it). A connected user whose key is revoked is dropped within milliseconds.
 */
export async function pushAccountRevocations(servers: string | string[], admin: AccountAdmin, revocations: Record<string, number>): Promise<void> {
  const jwt = await encodeAccountJwt(admin, revocations);
  const nc = await connect({ servers, authenticator: credsAuthenticator(new TextEncoder().encode(admin.systemCreds)), name: 'encedeus-account-admin', reconnect: false });
  try {
    const reply = await nc.request('$SYS.REQ.CLAIMS.UPDATE', new TextEncoder().encode(jwt), { timeout: 5000 });
    const answer = JSON.parse(new TextDecoder().decode(reply.data)) as { error?: { description?: string }; data?: { code?: number; message?: string } };
    if (answer.error || (answer.data?.code && answer.data.code >= 300)) {
      throw new Error(`messaging/nats-auth: the account update was refused: ${answer.error?.description ?? answer.data?.message}`);
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
}
