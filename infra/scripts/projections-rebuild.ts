/**
 * `npm run projections:rebuild -- <service>`: empties one service's read model (tables and
 * checkpoints) and replays stream EVENTS into it. A running service keeps working: its projector
 * re-creates its consumer from the checkpoint this script leaves behind.
 */
import { DataSource } from 'typeorm';
import { connectNats, loadConfig, Projector, readServiceCreds, type Projection } from '@encedeus/messaging';
import { projectionsOf, REBUILDABLE_SERVICES } from './projection-registry';

async function main() {
  const service = process.argv[2];
  if (!service || !REBUILDABLE_SERVICES.includes(service)) {
    console.error(`usage: npm run projections:rebuild -- <${REBUILDABLE_SERVICES.join('|')}>`);
    process.exit(2);
  }
  const config = await loadConfig();
  const { nc } = await connectNats({ servers: config.nats.url, creds: readServiceCreds(config, 'admin'), name: 'encedeus-rebuild' });
  const db = await new DataSource({ type: 'postgres', url: config.databaseUrl }).initialize();
  try {
    for (const projection of (await projectionsOf(service, nc)) as Projection[]) {
      const started = Date.now();
      const projector = new Projector(nc, db, projection);
      await projector.rebuild();
      const position = await projector.catchUp();
      console.log(`${service}: ${projection.name} rebuilt up to sequence ${position} in ${Date.now() - started} ms`);
    }
  } finally {
    await db.destroy();
    await nc.drain();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
