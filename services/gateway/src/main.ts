import 'reflect-metadata';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadConfig, readServiceCreds, type AccountAdmin, type AccountSigner } from '@encedeus/messaging';
import { createGatewayApp } from './gateway.app';
import { gatewayFeatures } from './gateway.features';
import { healthServicesFromEnv } from './health/health.controller';

async function bootstrap() {
  const config = await loadConfig();
  const signer: AccountSigner | undefined = existsSync(config.nats.signerFile) ? JSON.parse(readFileSync(config.nats.signerFile, 'utf8')) : undefined;
  const adminFile = process.env.NATS_ACCOUNT_ADMIN_FILE ?? join(dirname(config.nats.signerFile), 'account-admin.json');
  const accountAdmin: AccountAdmin | undefined = existsSync(adminFile) ? JSON.parse(readFileSync(adminFile, 'utf8')) : undefined;
  const options = {
    nats: { servers: config.nats.url, creds: readServiceCreds(config, 'gateway') },
    databaseUrl: config.databaseUrl,
    signer,
    accountAdmin,
    publicNatsUrl: config.nats.publicUrl,
    consoleDir: config.gateway.consoleDir,
    services: healthServicesFromEnv(),
  };
  const { url } = await createGatewayApp({ ...options, features: gatewayFeatures(options) }, config.gateway.port);
  console.log(`gateway listening on ${url} (API ${url}/api/v1, docs ${url}/api/docs)`);
}

void bootstrap();
