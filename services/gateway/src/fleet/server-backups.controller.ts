import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { createZodDto } from 'nestjs-zod';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack, type Pack } from 'tar-stream';
import { readChunks, type ChunkStore } from '@encedeus/chunks';
import {
  backupManifestSchema,
  ConflictError,
  createBackupBodySchema,
  DomainError,
  pageQuerySchema,
  restoreBackupBodySchema,
  type BackupManifest,
  type BackupView,
  type FileChunkRef,
  type Page,
  type ServerAction,
  type ServerView,
} from '@encedeus/contracts';
import { CommandClient, type CommandMeta } from '@encedeus/messaging';
import { Authenticated, CurrentPrincipal, type Principal } from '@encedeus/security';
import { commandMeta } from '../common/request-meta';
import { UuidParam } from '../common/uuid-param';
import { GatewayChunkStore } from '../files/gateway-chunk-store';
import { assertCanControl } from './fleet-access';

class CreateDto extends createZodDto(createBackupBodySchema) {}
class RestoreDto extends createZodDto(restoreBackupBodySchema) {}
class PageQuery extends createZodDto(pageQuerySchema) {}

/** States in which a server's process may write its files: a restore waits until it is stopped. */
const RUNNING: ReadonlySet<ServerView['state']> = new Set(['starting', 'running', 'stopping', 'installing']);

async function readManifest(store: ChunkStore, refs: FileChunkRef[]): Promise<BackupManifest> {
  const parts: Buffer[] = [];
  for await (const part of readChunks(store, refs)) parts.push(part);
  return backupManifestSchema.parse(JSON.parse(Buffer.concat(parts).toString('utf8')));
}

function entry(tar: Pack, header: Parameters<Pack['entry']>[0]): Promise<void> {
  return new Promise((resolve, reject) => tar.entry(header, (error) => (error ? reject(error) : resolve())));
}

/**
 * Server backups (issue 11, docs/backups.md), `/servers/:id/backups`: contracts' canControlServer
 * with the `backups.*` actions (a hidden server is 404, a missing permission 403), then the files
 * service (`cmd.files.<verb>`), which owns the backup aggregate and hands the work to the server's
 * agent. The download is streamed here: a tar.gz built from the manifest and the chunks (direct
 * gets, a bounded read-ahead), never buffered whole.
 */
@ApiTags('server backups')
@Controller('servers/:id/backups')
export class ServerBackupsController {
  constructor(
    private readonly commands: CommandClient,
    @Inject(GatewayChunkStore) private readonly chunks: GatewayChunkStore,
  ) {}

  private async server(id: string, action: ServerAction, meta: CommandMeta, p: Principal): Promise<ServerView> {
    const server = await this.commands.send<ServerView>('nodes', 'get_server', { id }, meta);
    assertCanControl(p, server, action);
    return server;
  }

  /** Takes a backup: `202 { id, status: "pending", … }`; progress arrives in room `server:<id>` (`server:backup`). 409 `BACKUP_LIMIT` at the server's limit. */
  @Authenticated()
  @Post()
  @HttpCode(202)
  async create(@Param('id', UuidParam) id: string, @Body() body: CreateDto, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<BackupView> {
    const meta = commandMeta(req, p);
    const server = await this.server(id, 'backups.create', meta, p);
    return this.commands.send<BackupView>('files', 'create_backup', { server_id: id, node_id: server.node_id, owner_id: server.owner_id, ...(body.name ? { name: body.name } : {}) }, meta);
  }

  /** Newest first: `{ items: [{ id, name, status, size, new_bytes, created_at, completed_at, reason? }], nextCursor }`. */
  @Authenticated()
  @Get()
  async list(@Param('id', UuidParam) id: string, @Query() query: PageQuery, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<Page<BackupView>> {
    const meta = commandMeta(req, p);
    await this.server(id, 'backups.read', meta, p);
    return this.commands.send<Page<BackupView>>('files', 'list_backups', { server_id: id, limit: query.limit, ...(query.cursor ? { cursor: query.cursor } : {}) }, meta);
  }

  @Authenticated()
  @Get(':bid')
  async get(@Param('id', UuidParam) id: string, @Param('bid', UuidParam) bid: string, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<BackupView> {
    const meta = commandMeta(req, p);
    await this.server(id, 'backups.read', meta, p);
    return this.commands.send<BackupView>('files', 'get_backup', { server_id: id, backup_id: bid }, meta);
  }

  /**
   * Restores the whole server, or one path of it (`{ path }`, from the server's root): what is there
   * and not in the backup is removed, the rest written back. The server must be stopped (409 otherwise).
   */
  @Authenticated()
  @Post(':bid/restore')
  @HttpCode(202)
  async restore(@Param('id', UuidParam) id: string, @Param('bid', UuidParam) bid: string, @Body() body: RestoreDto, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<BackupView> {
    const meta = commandMeta(req, p);
    const server = await this.server(id, 'backups.restore', meta, p);
    if (RUNNING.has(server.state)) throw new ConflictError(`Stop the server before restoring a backup (it is ${server.state})`, { reason: 'server_running', state: server.state });
    return this.commands.send<BackupView>('files', 'restore_backup', { server_id: id, backup_id: bid, node_id: server.node_id, ...(body.path ? { path: body.path } : {}) }, meta);
  }

  @Authenticated()
  @Delete(':bid')
  @HttpCode(200)
  async remove(@Param('id', UuidParam) id: string, @Param('bid', UuidParam) bid: string, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<{ id: string; deleted: true }> {
    const meta = commandMeta(req, p);
    await this.server(id, 'backups.delete', meta, p);
    return this.commands.send<{ id: string; deleted: true }>('files', 'delete_backup', { server_id: id, backup_id: bid }, meta);
  }

  /** The backup as a tar.gz (directories and files with their modes and mtimes), streamed. Needs backups.read. */
  @Authenticated()
  @Get(':bid/download')
  async download(@Param('id', UuidParam) id: string, @Param('bid', UuidParam) bid: string, @Req() req: Request, @CurrentPrincipal() p: Principal, @Res() res: Response): Promise<void> {
    const meta = commandMeta(req, p);
    await this.server(id, 'backups.read', meta, p);
    const { name, manifest: refs } = await this.commands.send<{ name: string; manifest: FileChunkRef[] }>('files', 'backup_manifest', { server_id: id, backup_id: bid }, meta);
    const store = await this.chunks.get();
    // Read before the headers go out: a backup whose manifest is gone is an error answer, not a broken stream.
    const manifest = await readManifest(store, refs).catch((error: unknown) => {
      throw new DomainError('UNPROCESSABLE', `The backup's manifest cannot be read: ${(error as Error).message}`);
    });
    const file = `${name.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 80) || 'backup'}.tar.gz`;
    res.status(200).type('application/gzip').setHeader('Content-Disposition', `attachment; filename="${file}"`);
    const tar = pack();
    const sent = pipeline(tar, createGzip(), res);
    try {
      for (const e of manifest.entries) {
        if (e.type === 'dir') {
          await entry(tar, { name: `${e.path}/`, type: 'directory', mode: e.mode, mtime: new Date(e.mtime) });
          continue;
        }
        const sink = tar.entry({ name: e.path, type: 'file', size: e.size, mode: e.mode, mtime: new Date(e.mtime) });
        await pipeline(Readable.from(readChunks(store, e.chunks ?? [])), sink);
      }
      tar.finalize();
      await sent;
    } catch (error) {
      // Headers are out: the client sees a truncated archive (gzip's check fails), never a valid partial one.
      tar.destroy(error as Error);
      res.destroy(error as Error);
      await sent.catch(() => undefined);
    }
  }
}
