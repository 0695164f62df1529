import { loadConfig, readServiceCreds, startServiceApp } from '@encedeus/messaging';
import { FilesModule } from './files.module';

async function main(): Promise<void> {
  const config = await loadConfig();
  const creds = readServiceCreds(config, 'files');
  const quota = process.env.FILES_DEFAULT_QUOTA_BYTES;
  if (quota !== undefined && !(Number.isSafeInteger(Number(quota)) && Number(quota) >= 0)) {
    throw new Error(`files: FILES_DEFAULT_QUOTA_BYTES must be a whole number of bytes (got ${JSON.stringify(quota)})`);
  }
  await startServiceApp(
    'files',
    FilesModule.forRoot({
      nats: { servers: config.nats.url, creds },
      databaseUrl: config.databaseUrl,
      ...(quota !== undefined ? { defaultQuotaBytes: Number(quota) } : {}),
      ...(process.env.FILES_CHUNK_DIR ? { chunkDir: process.env.FILES_CHUNK_DIR } : {}),
      backups: {
        ...(process.env.FILES_BACKUP_LIMIT ? { limit: Number(process.env.FILES_BACKUP_LIMIT) } : {}),
        ...(process.env.FILES_BACKUP_STALL_MS ? { stallMs: Number(process.env.FILES_BACKUP_STALL_MS) } : {}),
      },
    }),
    { servers: config.nats.url, creds },
  );
}

void main().catch((error) => {
  console.error(error);
  process.exit(1);
});
