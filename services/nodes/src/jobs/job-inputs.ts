import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { migrateSchema } from '@encedeus/messaging';
import { SCHEMA } from '../projections/fleet.projection';

/** How long a job's code and stdin are kept after their last use. @default 7 days */
export const JOB_INPUT_RETENTION_DAYS = 7;

/** What `job.created` records of a code or stdin text instead of the text itself. */
export interface StoredInput {
  sha256: string;
  bytes: number;
}

/**
 * Job code and stdin, stored once per content (SHA-256 addressed) in `nodes.job_inputs`, outside
 * EVENTS: the `job.created` event keeps only the hash and size. Each text is capped by runJobSchema
 * (1 MiB); a text unused for JOB_INPUT_RETENTION_DAYS is deleted on a later put, so the table holds
 * at most what was run in that window. Not a projection: a rebuild of the read model keeps it.
 */
export class JobInputs {
  constructor(
    private readonly db: DataSource,
    private readonly retentionDays = JOB_INPUT_RETENTION_DAYS,
  ) {}

  async migrate(): Promise<void> {
    await migrateSchema(this.db, SCHEMA, async (em) => {
      await em.query(`create table if not exists ${SCHEMA}.job_inputs (
        sha256 text primary key, body text not null, bytes int not null, last_used_at timestamptz not null default now())`);
      await em.query(`create index if not exists job_inputs_last_used_idx on ${SCHEMA}.job_inputs (last_used_at)`);
    });
  }

  /** Stores a text once (the same content again only refreshes its retention) and drops texts past retention. */
  async put(text: string): Promise<StoredInput> {
    const stored = { sha256: createHash('sha256').update(text, 'utf8').digest('hex'), bytes: Buffer.byteLength(text, 'utf8') };
    await this.db.query(
      `insert into ${SCHEMA}.job_inputs (sha256, body, bytes, last_used_at) values ($1, $2, $3, now())
       on conflict (sha256) do update set last_used_at = now()`,
      [stored.sha256, text, stored.bytes],
    );
    await this.db.query(`delete from ${SCHEMA}.job_inputs where last_used_at < now() - make_interval(days => $1)`, [this.retentionDays]);
    return stored;
  }
}
