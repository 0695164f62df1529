import { loadConfig, readServiceCreds, startServiceApp } from '@encedeus/messaging';
import { UsersModule } from './users.module';

async function bootstrap() {
  const config = await loadConfig();
  const creds = readServiceCreds(config, 'users');
  await startServiceApp('users', UsersModule.forRoot(UsersModule.optionsFrom(config, creds)), { servers: config.nats.url, creds });
}

void bootstrap();
