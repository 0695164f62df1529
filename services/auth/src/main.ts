import { loadConfig, readServiceCreds, startServiceApp } from '@encedeus/messaging';
import { AuthModule } from './auth.module';

async function bootstrap() {
  const config = await loadConfig();
  const creds = readServiceCreds(config, 'auth');
  await startServiceApp('auth', AuthModule.forRoot(AuthModule.optionsFrom(config, creds)), { servers: config.nats.url, creds });
}

void bootstrap();
