/** The plugins service's Postgres connection (TypeORM DataSource). */
export const PLUGINS_DB = Symbol('PLUGINS_DB');
export const PLUGINS_OPTIONS = Symbol('PLUGINS_OPTIONS');
