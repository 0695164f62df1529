import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { conditions, record, secondsSince } from './lib/harness';
import { as, type FilesWorld } from '../services/gateway/test/server-files-fixture';

const MiB = 1024 * 1024;
/** Size of the backed-up directory. @default 500 MiB (issue 11) */
const BACKUP_MIB = Number(process.env.BENCH_BACKUP_MIB ?? 500);
/** Files it is made of (random bytes: nothing dedupes inside the first backup). */
const FILES = 50;

/** What the case needs of the server-files bench's world. */
interface Context {
  world: FilesWorld;
  server: { id: string; dir: string };
}

async function backup(ctx: Context, name: string): Promise<{ seconds: number; newBytes: number; size: number }> {
  const http = () => ctx.world.stack.http();
  const start = process.hrtime.bigint();
  const created = await http().post(`/api/v1/servers/${ctx.server.id}/backups`).set('Authorization', as(ctx.world.admin)).send({ name });
  if (created.status !== 202) throw new Error(`bench: backup answered ${created.status} ${JSON.stringify(created.body)}`);
  const done = await ctx.world.stack.waitFor(
    `backup ${name}`,
    async () => {
      const b = (await http().get(`/api/v1/servers/${ctx.server.id}/backups/${created.body.id}`).set('Authorization', as(ctx.world.admin))).body;
      return b.status === 'completed' || b.status === 'failed' ? b : undefined;
    },
    600_000,
  );
  if (done.status !== 'completed') throw new Error(`bench: backup ${name} failed: ${done.reason}`);
  return { seconds: secondsSince(start), newBytes: done.new_bytes, size: done.size };
}

/**
 * Issue 11's backup figure: a server directory of BENCH_BACKUP_MIB (500 MiB) backed up twice through
 * REST, the files service and the real agent (walk, FastCDC, SHA-256, missing-chunk questions, chunk
 * puts checked by the files service into CHUNKS). The first run stores every byte; the second finds
 * every chunk stored and sends only its new manifest.
 */
export const serverBackupCase = {
  name: `backup of a ${BACKUP_MIB} MiB server directory, first and second run`,
  async run(ctx: Context): Promise<void> {
    const root = join(ctx.server.dir, 'bench-backup');
    const owner = statSync(ctx.server.dir);
    mkdirSync(root, { recursive: true });
    const per = Math.floor((BACKUP_MIB * MiB) / FILES);
    for (let i = 0; i < FILES; i++) {
      writeFileSync(join(root, `part-${i}.bin`), randomBytes(per));
      chownSync(join(root, `part-${i}.bin`), owner.uid, owner.gid);
    }
    const first = await backup(ctx, 'bench first');
    const second = await backup(ctx, 'bench second');
    const bench = 'server-files';
    record({ bench, name: `backup, first run (${(first.size / MiB).toFixed(0)} MiB, every chunk new)`, value: first.size / MiB / first.seconds, unit: 'MiB/s', note: `${first.seconds.toFixed(1)} s, new_bytes ${(first.newBytes / MiB).toFixed(1)} MiB` });
    record({ bench, name: 'backup, first run: time', value: first.seconds, unit: 's' });
    record({ bench, name: 'backup, second run of the unchanged directory: time', value: second.seconds, unit: 's' });
    record({ bench, name: 'backup, second run: new bytes stored', value: second.newBytes / 1024, unit: 'KiB', target: { op: '<=', value: 64 } });
    conditions(bench, {
      backup: `${FILES} files of random bytes (${BACKUP_MIB} MiB) written into the server's directory; POST /servers/:id/backups, polled every 100 ms until completed; the agent and the files service share the bench machine's cores with the nats-server`,
    });
  },
};
