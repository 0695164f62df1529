import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { accountSigner, createOperatorBundle, mintUserCreds, SERVICE_PERMISSIONS, type NatsUserName, type OperatorBundle } from '@encedeus/messaging';

/**
 * The installation's NATS trust chain kept in `<dataDir>/nats`: operator.json (all seeds, 0600),
 * account-signer.json (what nodes/gateway need to mint users) and creds/<user>.creds per service.
 * Generated once; later runs reuse it so stored JetStream data and issued credentials stay valid.
 */
export async function ensureNatsTrust(dataDir: string): Promise<{ bundle: OperatorBundle; dir: string; credsDir: string; signerFile: string }> {
  const dir = join(dataDir, 'nats');
  const credsDir = join(dir, 'creds');
  mkdirSync(credsDir, { recursive: true, mode: 0o700 });
  const bundleFile = join(dir, 'operator.json');
  const bundle: OperatorBundle = existsSync(bundleFile) ? JSON.parse(readFileSync(bundleFile, 'utf8')) : await createOperatorBundle();
  writeFileSync(bundleFile, JSON.stringify(bundle, null, 2), { mode: 0o600 });
  const signerFile = join(dir, 'account-signer.json');
  writeFileSync(signerFile, JSON.stringify(accountSigner(bundle)), { mode: 0o600 });
  for (const user of Object.keys(SERVICE_PERMISSIONS) as NatsUserName[]) {
    const file = join(credsDir, `${user}.creds`);
    if (!existsSync(file)) writeFileSync(file, await mintUserCreds(accountSigner(bundle), user, SERVICE_PERMISSIONS[user]), { mode: 0o600 });
  }
  return { bundle, dir, credsDir, signerFile };
}
