// Native Ed25519 for every NATS connect and minted JWT in a process that uses this library.
import './nats-auth/native-ed25519';
export { connectNats, natsTransportOptions, type NatsConnectionOptions, type NatsStatus } from './nats-connection';
export { ensureStreams, STREAM_CONFIGS, SNAPSHOT_BUCKET } from './streams';
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
export { Projector, type Projection, type ProjectorOptions } from './projector';
export { CommandClient, type SendOptions } from './command-client';
export { metaFromHeaders, metaToHeaders, type CommandMeta } from './command-meta';
export { RpcErrorFilter, toErrorBody } from './rpc-error.filter';
export { MessagingModule, NATS_CONNECTION, NATS_STATUS, type MessagingModuleOptions } from './messaging.module';
export { buildConfig, loadConfig, readServiceCreds, type EncedeusConfig } from './service-config';
export {
  accountSigner,
  createOperatorBundle,
  inboxPrefixFor,
  credsExpiry,
  inboxPrefixFromCreds,
  mintSystemCreds,
  mintUserCreds,
  natsServerConfig,
  type AccountSigner,
  type MintOptions,
  type OperatorBundle,
  type ServerConfigOptions,
  type SubjectPermissions,
} from './nats-auth/operator';
export { agentPermissions, integratorConsumerNames, integratorPermissions, SERVICE_PERMISSIONS, type NatsUserName } from './nats-auth/service-permissions';
export { healthControllerFor, startServiceApp, type ServiceAppOptions, type ServiceHealth } from './service-app';
