import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, loadConfig } from './service-config';

describe('config', () => {
  it('uses defaults when nothing is set', () => {
    const config = buildConfig({}, {});

    expect(config.nats.url).toBe('nats://127.0.0.1:4250');
    expect(config.gateway.port).toBe(8080);
    expect(config.auth.registrationEnabled).toBe(false);
  });

  it('reads encedeus.hcl and lets environment variables win', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'encedeus-config-'));
    const file = join(dir, 'encedeus.hcl');
    writeFileSync(
      file,
      `nats {\n  url = "nats://10.0.0.1:4222"\n}\ngateway {\n  port = 9090\n}\nauth {\n  registration_enabled = true\n}\ndatabase {\n  url = "postgres://db/x"\n}\n`,
    );

    const config = await loadConfig({ ENCEDEUS_CONFIG: file, PORT: '7070' });

    expect(config.nats.url).toBe('nats://10.0.0.1:4222');
    expect(config.gateway.port).toBe(7070);
    expect(config.auth.registrationEnabled).toBe(true);
    expect(config.databaseUrl).toBe('postgres://db/x');
  });
});
