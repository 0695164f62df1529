export {
  CHUNK_AVG_SIZE,
  CHUNK_MAX_SIZE,
  CHUNK_MIN_SIZE,
  chunkBuffer,
  chunkStream,
  createChunker,
  FastCdc,
  type Chunk,
  type ChunkerOptions,
} from './fastcdc';
export {
  assertChunkBytes,
  assertChunkHash,
  ChunkCorruptedError,
  InvalidChunkHashError,
  type ChunkStore,
  type ChunkStoreStats,
  type DeleteChunkOptions,
  type PutChunkOptions,
  type StoredChunk,
} from './chunk-store';
export { CHUNK_STREAM_CONFIG, JetStreamChunkStore, type JetStreamChunkStoreOptions } from './jetstream-chunk-store';
export { ChunkMissingError, DEFAULT_PREFETCH_BYTES, putStream, readChunks, type ChunkRef, type PutStreamOptions, type ReadChunksOptions, type StoredFile } from './chunked-file';
export { DirectoryChunkStore, type DirectoryChunkStoreOptions } from './directory-chunk-store';
export {
  collectGarbage,
  countReferences,
  isGarbage,
  selectGarbage,
  type CollectGarbageOptions,
  type CollectGarbageResult,
  type GraceBound,
  type LiveChunks,
} from './garbage-collection';
