export { freePort, waitForPort } from './free-port';
export { natsServerBinary, startNats, type NatsHandle, type StartNatsOptions } from './start-nats';
export { createTestDatabase, findOrStartPostgres, startEmbeddedPostgres, type PostgresServer, type TestDatabase } from './postgres';
export { startSmtpCatcher, type CaughtMail, type SmtpCatcher } from './smtp-catcher';
export { startTestEnv, type TestEnv } from './test-env';
