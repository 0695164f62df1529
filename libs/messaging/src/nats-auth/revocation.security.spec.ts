import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator } from 'nats';
import { startNats, type NatsHandle } from '@encedeus/testing';
import { Algorithms, encodeAccount } from 'nats-jwt';
import { fromSeed } from 'nkeys.js';
import { pushAccountRevocations } from './account-updates';
import { accountAdminOf, createOperatorBundle, mintSystemCreds, mintUserCreds, natsServerConfig, userPubFromCreds, type OperatorBundle } from './operator';

const creds = (text: string) => credsAuthenticator(new TextEncoder().encode(text));

/** Issue 8: integrator credentials could not be revoked before they expired. */
describe('revoking NATS users', () => {
  let dir: string;
  let bundle: OperatorBundle;
  let nats: NatsHandle | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'encedeus-revocation-'));
    bundle = await createOperatorBundle();
  });
  afterAll(async () => {
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('admits system-account users, which nats-server 2.9.10 refuses when the SYS JWT has no limits', async () => {
    const legacy = { ...bundle, system: { ...bundle.system, jwt: await encodeAccount('SYS', bundle.system.pub, {}, { signer: fromSeed(new TextEncoder().encode(bundle.operator.seed)), algorithm: Algorithms.v2 }) } };
    const old = await startNats({ bundle: { ...legacy }, storeDir: join(dir, 'legacy', 'jetstream') });

    const upgraded = await connect({ servers: old.url, authenticator: creds(await mintSystemCreds(bundle)), reconnect: false });

    // startNats upgrades a bundle whose SYS JWT lacks limits (upgradeOperatorBundle).
    expect(upgraded.info?.server_name).toBeDefined();
    await upgraded.close();
    await old.stop();
  });

  it('drops a connected revoked user at once, and keeps refusing it after a server restart', async () => {
    const storeDir = join(dir, 'server', 'jetstream');
    nats = await startNats({ bundle, storeDir });
    const revoked = await mintUserCreds(nats.signer, 'integration-gone', { pub: [], sub: ['evt.>'] });
    const kept = await mintUserCreds(nats.signer, 'integration-kept', { pub: [], sub: ['evt.>'] });
    const nc = await connect({ servers: nats.url, authenticator: creds(revoked), reconnect: false });
    const closed = nc.closed();

    // At a restart the resolver keeps the stored JWT unless the preloaded one was issued later; JWTs
    // carry whole seconds, so an update in the very second the bundle was made would tie with it.
    const preloadIssuedAt = JSON.parse(Buffer.from(bundle.account.jwt.split('.')[1], 'base64url').toString('utf8')).iat as number;
    while (Math.floor(Date.now() / 1000) <= preloadIssuedAt) await new Promise((r) => setTimeout(r, 50));
    await pushAccountRevocations(nats.url, await accountAdminOf(bundle), { [userPubFromCreds(revoked)]: Math.ceil(Date.now() / 1000) });

    expect(await Promise.race([closed.then(() => 'dropped'), new Promise((r) => setTimeout(() => r('still connected'), 3000))])).toBe('dropped');
    await nats.stop();
    nats = await startNats({ bundle, storeDir, port: nats.port });
    const again = await connect({ servers: nats.url, authenticator: creds(revoked), reconnect: false }).catch((e: Error) => e);
    expect(String(again)).toMatch(/Authorization/i);
    const other = await connect({ servers: nats.url, authenticator: creds(kept), reconnect: false });
    await other.close();
  });

  it('writes a config whose monitoring port listens on loopback only, with TLS when files are given', () => {
    const config = natsServerConfig(bundle, { host: '0.0.0.0', port: 4222, storeDir: '/data/jetstream', httpPort: 8222, tls: { certFile: '/tls/cert.pem', keyFile: '/tls/key.pem', caFile: '/tls/ca.pem' } });

    expect(config).toContain('http: "127.0.0.1:8222"');
    expect(config).not.toMatch(/http_port/);
    expect(config).toMatch(/tls: \{\n {2}cert_file: "\/tls\/cert.pem"\n {2}key_file: "\/tls\/key.pem"\n {2}ca_file: "\/tls\/ca.pem"\n {2}verify: true\n\}/);
    expect(config).toContain('resolver: { type: full, dir: "/data/jwt"');
  });
});
