import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { as, startFilesWorld, type FilesWorld } from './server-files-fixture';
import { rssOf, sampleRss, streamDownload, streamMultipart } from './server-file-upload';

const MIB = 1024 * 1024;
/** The file moved up and down (TRANSFER_MEMORY_MIB to change it). */
const SIZE = Number(process.env.TRANSFER_MEMORY_MIB ?? 200) * MIB;
/** Most a process's resident memory may grow while SIZE passes through it: far below SIZE, so buffering the file fails. */
const MAX_GROWTH = 96 * MIB;

async function fileHash(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Issue 11: download and upload stream end to end. A SIZE file goes up (multipart) and down through
 * the gateway, the nodes service (both in this process) and the agent (its own process) while the
 * RSS of both is sampled: neither grows by more than MAX_GROWTH.
 */
describe(`server file transfers keep memory flat (${SIZE / MIB} MiB)`, () => {
  let world: FilesWorld;
  let server: { id: string; dir: string };

  beforeAll(async () => {
    world = await startFilesWorld();
    server = await world.server('memory', undefined, Math.ceil((2.5 * SIZE) / MIB));
  }, 180_000);

  afterAll(async () => {
    await world?.stack.stop();
  });

  it('uploads and downloads without holding the file', async () => {
    const agentPid = world.agent.child.pid!;
    global.gc?.();
    const base = [rssOf(agentPid), rssOf(process.pid)];
    const sampler = sampleRss([agentPid, process.pid]);

    const started = Date.now();
    const up = await streamMultipart(`${world.stack.gateway.url}/api/v1/servers/${server.id}/files/upload?path=/`, world.admin, 'big.bin', SIZE);
    const upMs = Date.now() - started;
    const down = await streamDownload(`${world.stack.gateway.url}/api/v1/servers/${server.id}/files/download?path=/big.bin`, world.admin);
    const downMs = Date.now() - started - upMs;
    const peaks = sampler.stop();
    const growth = peaks.map((p, i) => p - base[i]);
    console.log(
      `transfers of ${SIZE / MIB} MiB: upload ${((SIZE / MIB) / (upMs / 1000)).toFixed(1)} MiB/s, download ${((SIZE / MIB) / (downMs / 1000)).toFixed(1)} MiB/s; ` +
        `agent RSS ${(base[0] / MIB).toFixed(0)} → peak ${(peaks[0] / MIB).toFixed(0)} MiB, gateway+nodes process ${(base[1] / MIB).toFixed(0)} → peak ${(peaks[1] / MIB).toFixed(0)} MiB`,
    );

    expect(up.status).toBe(200);
    expect(up.body).toEqual({ path: '/big.bin', size: SIZE });
    expect(await fileHash(join(server.dir, 'big.bin'))).toBe(up.sha256);
    expect([down.status, down.bytes, down.sha256]).toEqual([200, SIZE, up.sha256]);
    expect(growth[0]).toBeLessThan(MAX_GROWTH);
    expect(growth[1]).toBeLessThan(MAX_GROWTH);
    // The admin can still see the result in a listing (the transfer's temporary file is gone).
    const list = await world.stack.http().get(`/api/v1/servers/${server.id}/files/list`).query({ path: '/' }).set('Authorization', as(world.admin));
    expect(list.body.items.map((e: { name: string }) => e.name).filter((n: string) => n.startsWith('.encedeus-upload'))).toEqual([]);
  }, 300_000);
});
