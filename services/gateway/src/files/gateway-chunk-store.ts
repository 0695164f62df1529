import { Inject, Injectable } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { DirectoryChunkStore, JetStreamChunkStore, type ChunkStore } from '@encedeus/chunks';
import { DomainError } from '@encedeus/contracts';
import { NATS_CONNECTION } from '@encedeus/messaging';

export const FILES_GATEWAY_OPTIONS = Symbol('FILES_GATEWAY_OPTIONS');

/** Where the gateway puts and reads chunks: the CHUNKS stream, or the folder the files service uses too. */
export interface FilesGatewayOptions {
  chunkDir?: string;
}

/**
 * The gateway's handle on the chunk store, opened on first use (a gateway whose NATS server cannot
 * carry chunks still serves everything else; its file routes answer 503).
 */
@Injectable()
export class GatewayChunkStore {
  private opening?: Promise<ChunkStore>;

  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(FILES_GATEWAY_OPTIONS) private readonly options: FilesGatewayOptions,
  ) {}

  get(): Promise<ChunkStore> {
    if (this.options.chunkDir) return Promise.resolve(new DirectoryChunkStore(this.options.chunkDir));
    this.opening ??= JetStreamChunkStore.open(this.nc).catch((error: unknown) => {
      this.opening = undefined;
      throw new DomainError('SERVICE_UNAVAILABLE', `The chunk store is not available: ${(error as Error).message}`);
    });
    return this.opening;
  }
}
