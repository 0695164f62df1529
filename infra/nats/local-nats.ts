import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { accountAdminOf, accountSigner, createOperatorBundle, mintUserCreds, SERVICE_PERMISSIONS, upgradeOperatorBundle, type NatsUserName, type OperatorBundle } from '@encedeus/messaging';

/**
 * The installation's NATS trust chain kept in `<dataDir>/nats`: operator.json (all seeds, 0600),
 * account-signer.json (what nodes/gateway need to mint users), account-admin.json (what the gateway
 * needs to revoke integrator credentials: the operator seed and a system user) and
 * creds/<user>.creds per service.
 * Generated once; later runs reuse it so stored JetStream data and issued credentials stay valid.
 */
export async function ensureNatsTrust(dataDir: string): Promise<{ bundle: OperatorBundle; dir: string; credsDir: string; signerFile: string }> {
  const dir = join(dataDir, 'nats');
  const credsDir = join(dir, 'creds');
  mkdirSync(credsDir, { recursive: true, mode: 0o700 });
  const bundleFile = join(dir, 'operator.json');
  const bundle: OperatorBundle = existsSync(bundleFile) ? await upgradeOperatorBundle(JSON.parse(readFileSync(bundleFile, 'utf8'))) : await createOperatorBundle();
  writeFileSync(bundleFile, JSON.stringify(bundle, null, 2), { mode: 0o600 });
  const signerFile = join(dir, 'account-signer.json');
  writeFileSync(signerFile, JSON.stringify(accountSigner(bundle)), { mode: 0o600 });
  const adminFile = join(dir, 'account-admin.json');
  if (!existsSync(adminFile)) writeFileSync(adminFile, JSON.stringify(await accountAdminOf(bundle)), { mode: 0o600 });
  for (const user of Object.keys(SERVICE_PERMISSIONS) as NatsUserName[]) {
    const file = join(credsDir, `${user}.creds`);
    // Re-minted when the allow-lists changed (e.g. the narrowed JetStream rights of issue 8).
    if (!existsSync(file) || !grants(readFileSync(file, 'utf8'), SERVICE_PERMISSIONS[user])) {
      writeFileSync(file, await mintUserCreds(accountSigner(bundle), user, SERVICE_PERMISSIONS[user]), { mode: 0o600 });
    }
  }
  return { bundle, dir, credsDir, signerFile };
}

/** Whether a `.creds` file's JWT carries exactly these publish allow/deny lists. */
function grants(creds: string, permissions: { pub: string[]; pubDeny?: string[] }): boolean {
  const jwt = /-----BEGIN NATS USER JWT-----\s*(\S+)/.exec(creds)?.[1];
  if (!jwt) return false;
  const { nats } = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
  const same = (a: string[] | undefined, b: string[]) => JSON.stringify([...(a ?? [])].sort()) === JSON.stringify([...b].sort());
  const pub = permissions.pub.filter((s) => s !== '_INBOX.>');
  return same(nats?.pub?.allow, pub) && same(nats?.pub?.deny, permissions.pubDeny ?? []);
}
