import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { QuotaExceededError, type QuotaView } from '@encedeus/contracts';
import { putStream } from '@encedeus/chunks';
import { CommandClient, retry, type CommandMeta } from '@encedeus/messaging';
import type { GatewayChunkStore } from './gateway-chunk-store';

/** How often an upload in flight renews its reservation (the files service lets one lapse after 2 min). */
export const UPLOAD_RENEW_MS = 30_000;

/** A release the files service did not take (it is down) is tried again this often until the reservation would have lapsed anyway. */
const RELEASE_RETRY_MS = 5_000;
const RELEASE_ATTEMPTS = 120_000 / RELEASE_RETRY_MS;

/** Commands and replies of an upload can take a while for a large file (chunk checks). */
const COMMIT_TIMEOUT_MS = 60_000;

/**
 * Releases an upload's reservation. The first try is awaited; when the files service is down it is
 * tried again in the background, so the quota (and, for the collector, the upload's chunks) is
 * freed as soon as the service is back rather than when the reservation lapses.
 */
async function releaseReservation(commands: CommandClient, uploadId: string, meta: CommandMeta): Promise<void> {
  const release = () => commands.send('files', 'abort_upload', { upload_id: uploadId }, meta);
  await release().catch(() => void retry(release, { attempts: RELEASE_ATTEMPTS, backoffMs: RELEASE_RETRY_MS }).catch(() => undefined));
}

/** Where a stream goes in a user's files: a VFS path (its name is the path's last part) or a raw file (`path` absent). */
export interface VfsTarget {
  userId: string;
  path?: string;
  name: string;
}

/**
 * Stores a byte stream as a file of a user (a server file exported to the VFS), with the steps of
 * the VFS upload (files.controllers.ts `streamUpload`): reserves quota with the files service (`declaredBytes` beyond what is available is 413 at
 * once), cuts the stream into content-defined chunks and puts them (putStream, a bounded number in
 * flight, memory flat), stops at the reservation (413 QUOTA_EXCEEDED, nothing listed), then asks the
 * files service to commit `{path, size, sha256, chunks}`. A refused or failed store releases its
 * reservation; the chunks it stored are collected after the grace.
 */
export async function storeInVfs<T>(commands: CommandClient, chunks: GatewayChunkStore, meta: CommandMeta, target: VfsTarget, source: Readable, declaredBytes?: number): Promise<T> {
  const { userId, path, name } = target;
  const uploadId = randomUUID();
  const { available_bytes: available } = await commands.send<{ available_bytes: number }>(
    'files',
    'begin_upload',
    { user_id: userId, upload_id: uploadId, ...(path ? { path } : {}), ...(declaredBytes !== undefined && Number.isSafeInteger(declaredBytes) && declaredBytes >= 0 ? { declared_bytes: declaredBytes } : {}) },
    meta,
  );
  const store = await chunks.get();
  // The chunker may surface a stop from onProgress as an abort: remember why it stopped.
  let overQuota: QuotaExceededError | undefined;
  // However long the upload takes, its reservation (and so its chunks, for the collector) stays alive.
  const renewal = setInterval(() => void commands.send('files', 'renew_upload', { upload_id: uploadId }, meta).catch(() => undefined), UPLOAD_RENEW_MS);
  renewal.unref();
  try {
    const stored = await putStream(store, source, {
      worker: true,
      onProgress: (read) => {
        if (read > available) throw (overQuota = new QuotaExceededError(0, available, read));
      },
    });
    return await commands.send<T>(
      'files',
      'commit_upload',
      { user_id: userId, upload_id: uploadId, ...(path ? { path } : {}), name, size: stored.size, sha256: stored.sha256, chunks: stored.chunks },
      meta,
      { timeoutMs: COMMIT_TIMEOUT_MS },
    );
  } catch (error) {
    await releaseReservation(commands, uploadId, meta);
    if (overQuota) {
      const quota = await commands.send<QuotaView>('files', 'quota', { user_id: userId }, meta).catch(() => undefined);
      throw quota ? new QuotaExceededError(quota.used_bytes, quota.quota_bytes, (overQuota.details as { wanted_bytes: number }).wanted_bytes) : overQuota;
    }
    throw error;
  } finally {
    clearInterval(renewal);
  }
}
