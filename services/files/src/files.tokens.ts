/** The files service's Postgres connection (TypeORM DataSource). */
export const FILES_DB = Symbol('FILES_DB');
/** The ChunkStore the service checks uploads against and collects. */
export const CHUNK_STORE = Symbol('CHUNK_STORE');
