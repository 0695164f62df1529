// Native Ed25519 for every NATS connect and minted JWT in a process that uses this library.
import './nats-auth/native-ed25519';
export { connectNats, natsTransportOptions, type NatsConnectionOptions, type NatsStatus } from './nats-connection';
export { ensureStreams, streamReplicas, STREAM_CONFIGS, SNAPSHOT_BUCKET, type EnsureStreamsOptions } from './streams';
export {
  EventStore,
  NO_STREAM,
  type AppendMeta,
  type AppendResult,
  type EventStoreOptions,
  type ExpectedRevision,
  type Loaded,
  type Reducer,
  type Revision,
} from './event-store';
export { lockSchemaMigration, migrateSchema, type Queryable } from './schema-migration';
export { BinaryCopyRows, copyBinaryRows, copyRows, copyText, type CopyTarget } from './pg-copy';
export { AdvisoryLocks, type AdvisoryLocksOptions } from './kernel/advisory-locks';
export { CommandHandler, type CommandStore, type Decider, type Handled, type HandleOptions } from './kernel/command-handler';
export { ConsumeLoop, type ConsumeLoopOptions, type StartAt } from './kernel/consume-loop';
export { KeyedMutex } from './kernel/keyed-mutex';
export { BoundedTail, type TailEntry } from './kernel/bounded-tail';
export { readRange, type ReadRangeOptions } from './kernel/read-range';
export { heldUntil, Lease, nextStep, type LeaseOptions, type LeaseRead, type LeaseRecord, type LeaseStep, type Sighting } from './kernel/lease';
export { exponentialBackoff, retry, type RetryOptions } from './kernel/retry';
export { Projector, projectionStatus, type DeadLetter, type Projection, type ProjectionStatus, type ProjectorOptions } from './projector';
export { CommandClient, type SendOptions } from './command-client';
export { metaFromHeaders, metaToHeaders, newAggregateId, type CommandMeta } from './command-meta';
export { RpcErrorFilter, toErrorBody } from './rpc-error.filter';
export { MessagingModule, NATS_CONNECTION, NATS_STATUS, type MessagingModuleOptions } from './messaging.module';
export { buildConfig, loadConfig, readServiceCreds, type EncedeusConfig } from './service-config';
export { pushAccountRevocations } from './nats-auth/account-updates';
export { AGENT_NODE_HEADER, agentOfReply } from './nats-auth/command-guard';
export {
  accountAdminOf,
  accountSigner,
  createOperatorBundle,
  inboxPrefixFor,
  credsExpiry,
  inboxPrefixFromCreds,
  mintSystemCreds,
  mintUserCreds,
  natsServerConfig,
  upgradeOperatorBundle,
  userPubFromCreds,
  type AccountAdmin,
  type AccountSigner,
  type NatsTlsOptions,
  type MintOptions,
  type OperatorBundle,
  type ServerConfigOptions,
  type SubjectPermissions,
} from './nats-auth/operator';
export { agentPermissions, DURABLE_OWNERS, integratorConsumerNames, integratorPermissions, integratorUserName, SERVICE_PERMISSIONS, type NatsUserName } from './nats-auth/service-permissions';
export { healthControllerFor, startServiceApp, type ServiceAppOptions, type ServiceHealth } from './service-app';
export { Batcher, type BatcherOptions } from './batcher';
