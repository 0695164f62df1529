export { freePort, freePortPair, waitForPort } from './free-port';
export { natsServerBinary, startNats, type NatsHandle, type StartNatsOptions } from './start-nats';
export { startNatsCluster, type NatsClusterHandle, type StartNatsClusterOptions } from './start-nats-cluster';
export { createTestDatabase, findOrStartPostgres, startEmbeddedPostgres, type PostgresServer, type TestDatabase } from './postgres';
export { startSmtpCatcher, type CaughtMail, type SmtpCatcher } from './smtp-catcher';
export { startTestEnv, type TestEnv } from './test-env';
export { waitFor } from './wait-for';
